-- Expiry, retention and deletion (issue 16). An alarm may carry `expires_at`: from then on it is
-- no longer streamed, resumed or listed, and Herald's sweep deletes it (within about a second),
-- which takes it out of the badge. Deleting an alarm — through the API or any system's DELETE —
-- is an entry in the user's ordered log (`deleted`), unless the delete is the sweep's own
-- (expiry, retention): those are not the user's doing, and streams need not hear of them.

alter table alarms add column expires_at timestamptz;

-- Only alarms that expire are in it: the sweep finds the next ones in one index range.
create index alarms_expiring on alarms (expires_at) where expires_at is not null;

-- Retention finds alarms and events older than its cutoff. Rows arrive in time order, so a BRIN
-- index (a min/max per range of pages, a few pages for millions of rows, next to nothing per
-- insert) tells it where they are; with nothing old, the look costs a few page reads instead of a
-- walk over the table. A B-tree on created_at would cost every publish one more index entry.
create index alarms_created_brin on alarms using brin (created_at) with (autosummarize = on);

alter table user_events
  drop constraint user_events_kind_check,
  drop constraint user_events_check,
  add column alarm_seq bigint,
  add constraint user_events_kind check (kind in ('state', 'deleted')),
  add constraint user_events_shape check (
    (kind = 'state' and (ids is null) <> (up_to is null))
    or (kind = 'deleted' and cardinality(ids) = 1 and alarm_seq is not null)
  );

create index user_events_created_brin on user_events using brin (created_at) with (autosummarize = on);

-- Deleted alarms leave the badge exact; a delete that is not the sweep's (herald.sweep) also
-- becomes one `deleted` event per alarm, in the user's log, after what it deletes. Users in one
-- order, so two such statements never deadlock.
create or replace function herald_uncount_deleted() returns trigger
language plpgsql
set search_path from current
as $$
declare
  d record;
  top bigint;
  woken int;
begin
  if current_setting('herald.sweep', true) = 'on' then
    -- The sweep (src/store/retention.ts) locked these users' counter rows first, in user order:
    -- one statement moves every badge, and the users whose badge moved are woken to hear it.
    with moved as (
      select user_id,
             count(*) filter (where read_at is null and archived_at is null)::int as unread,
             count(*) filter (where seen_at is null and archived_at is null)::int as unseen
      from old_rows group by user_id
    ), changed as (
      update user_seqs u set unread = u.unread - m.unread, unseen = u.unseen - m.unseen
      from moved m
      where u.user_id = m.user_id and (m.unread > 0 or m.unseen > 0)
      returning u.user_id
    )
    select count(pg_notify('herald_' || tg_table_schema, user_id)) into woken from changed;
    return null;
  end if;
  for d in
    select user_id,
           count(*) filter (where read_at is null and archived_at is null)::int as unread,
           count(*) filter (where seen_at is null and archived_at is null)::int as unseen,
           count(*)::int as n,
           array_agg(id order by seq) as ids,
           array_agg(seq order by seq) as seqs
    from old_rows group by user_id
    order by user_id
  loop
    update user_seqs set last_seq = last_seq + d.n, unread = unread - d.unread, unseen = unseen - d.unseen
    where user_id = d.user_id
    returning last_seq into top;
    insert into user_events (user_id, seq, kind, change, ids, alarm_seq)
    select d.user_id, top - d.n + k, 'deleted', 'deleted', array[d.ids[k]], d.seqs[k]
    from generate_subscripts(d.ids, 1) as k;
    if current_setting('herald.quiet', true) is distinct from 'on' then
      perform pg_notify('herald_' || tg_table_schema, d.user_id);
    end if;
  end loop;
  return null;
end
$$;
