-- The inbox: read / seen / archived state per alarm, an exact badge per user, and every change of
-- state in the user's ordered log, so it travels the same exactly-once, resumable stream as alarms.

alter table alarms
  add column read_at timestamptz,
  add column seen_at timestamptz,
  add column archived_at timestamptz;

-- The badge lives on the per-user counter row that every writer of the user already locks until
-- commit: exact under any concurrency, on any instance, and O(1) to read.
alter table user_seqs
  add column unread integer not null default 0,
  add column unseen integer not null default 0;

update user_seqs u set unread = c.n, unseen = c.n
from (select user_id, count(*)::int as n from alarms group by user_id) c
where c.user_id = u.user_id;

-- The entries of a user's log that are not alarms. They take their seq from user_seqs like alarms
-- do, so alarms and state changes share one sequence: `id:` only grows, and a cursor resumes both.
create table user_events (
  user_id text not null,
  seq bigint not null,
  kind text not null check (kind in ('state')),
  -- What changed: read, unread, seen, unseen, archive, unarchive.
  change text not null,
  -- Which alarms: by id, or every alarm with seq <= up_to (a mark-all that stays correct while a
  -- new alarm commits at the same moment).
  ids bigint[],
  up_to bigint,
  created_at timestamptz not null default now(),
  primary key (user_id, seq),
  check ((ids is null) <> (up_to is null))
);

-- What the inbox asks most, kept small: the unread and the unseen alarms of a user, newest first,
-- for history pages and for mark-all-read (seen) in one index range. (Archived ones are in them
-- too: few, and mark-all-read must reach them as well.)
create index alarms_unread on alarms (user_id, seq) where read_at is null;
create index alarms_unseen on alarms (user_id, seq) where seen_at is null;

-- An alarm counts in the badge from the start unless its writer inserted it read (seen, archived).
create or replace function herald_assign_seq() returns trigger
language plpgsql
set search_path from current
as $$
begin
  insert into user_seqs as u (user_id, last_seq, unread, unseen)
  values (
    new.user_id, 1,
    (new.read_at is null and new.archived_at is null)::int,
    (new.seen_at is null and new.archived_at is null)::int
  )
  on conflict (user_id) do update
    set last_seq = u.last_seq + 1, unread = u.unread + excluded.unread, unseen = u.unseen + excluded.unseen
  returning last_seq into new.seq;
  return new;
end
$$;

-- An alarm's place in its user's log is fixed: moving it to another user, or to another seq, would
-- break every cursor that passed it.
create function herald_fixed_place() returns trigger
language plpgsql
as $$
begin
  if new.user_id is distinct from old.user_id or new.seq is distinct from old.seq then
    raise exception 'alarm %: user_id and seq cannot change', old.id
      using errcode = '23514', hint = 'insert a new alarm for the other user instead';
  end if;
  return new;
end
$$;

create trigger alarms_fixed_place before update of user_id, seq on alarms
  for each row execute function herald_fixed_place();

-- Every change of state, however it was made (Herald's marks or any system's UPDATE), becomes one
-- event per (statement, user, change) in the user's log, and moves the badge by exactly what changed.
-- Herald's marks set `herald.up_to` for their own transaction: the event then says "every alarm up to
-- this seq" (the mark's own `upTo`, or for `all` the newest alarm it changed) instead of listing ids.
create function herald_state_changes() returns trigger
language plpgsql
set search_path from current
as $$
declare
  up_to text := nullif(current_setting('herald.up_to', true), '');
  u record;
  n int;
  top bigint;
begin
  for u in
    with rows as (
      select n.user_id, n.id, n.seq,
             o.read_at as o_read, n.read_at as n_read, o.seen_at as o_seen, n.seen_at as n_seen,
             o.archived_at as o_arch, n.archived_at as n_arch
      from new_rows n join old_rows o using (id)
    ), changes as (
      select user_id, id, seq, ord, change from rows, lateral (values
        (1, 'read', o_read is null and n_read is not null),
        (2, 'unread', o_read is not null and n_read is null),
        (3, 'seen', o_seen is null and n_seen is not null),
        (4, 'unseen', o_seen is not null and n_seen is null),
        (5, 'archive', o_arch is null and n_arch is not null),
        (6, 'unarchive', o_arch is not null and n_arch is null)
      ) as c(ord, change, happened)
      where happened
    ), events as (
      select user_id, jsonb_agg(jsonb_build_object('change', change, 'ids', ids, 'max_seq', max_seq) order by ord) as list
      from (
        select user_id, ord, change, array_agg(id order by seq) as ids, max(seq) as max_seq
        from changes group by user_id, ord, change
      ) grouped
      group by user_id
    ), deltas as (
      select user_id,
             sum((n_read is null and n_arch is null)::int - (o_read is null and o_arch is null)::int)::int as unread,
             sum((n_seen is null and n_arch is null)::int - (o_seen is null and o_arch is null)::int)::int as unseen
      from rows group by user_id
    )
    select d.user_id, d.unread, d.unseen, e.list
    from deltas d join events e using (user_id)
    order by d.user_id -- one lock order for every statement: two of them never deadlock
  loop
    n := jsonb_array_length(u.list);
    update user_seqs set last_seq = last_seq + n, unread = unread + u.unread, unseen = unseen + u.unseen
    where user_id = u.user_id
    returning last_seq into top;
    insert into user_events (user_id, seq, kind, change, ids, up_to)
    select u.user_id, top - n + k, 'state', e->>'change',
           case when up_to is null then array(select jsonb_array_elements_text(e->'ids')::bigint) end,
           case when up_to = 'all' then (e->>'max_seq')::bigint when up_to is not null then up_to::bigint end
    from jsonb_array_elements(u.list) with ordinality as x(e, k);
    if current_setting('herald.quiet', true) is distinct from 'on' then
      perform pg_notify('herald_' || tg_table_schema, u.user_id);
    end if;
  end loop;
  return null;
end
$$;

create trigger alarms_state_changes after update on alarms
  referencing old table as old_rows new table as new_rows
  for each statement execute function herald_state_changes();

-- An alarm deleted (by any system) leaves the badge exact. Users in one order, as above.
create function herald_uncount_deleted() returns trigger
language plpgsql
set search_path from current
as $$
declare
  d record;
begin
  for d in
    select user_id,
           count(*) filter (where read_at is null and archived_at is null)::int as unread,
           count(*) filter (where seen_at is null and archived_at is null)::int as unseen
    from old_rows group by user_id
    order by user_id
  loop
    if d.unread > 0 or d.unseen > 0 then
      update user_seqs set unread = unread - d.unread, unseen = unseen - d.unseen where user_id = d.user_id;
    end if;
  end loop;
  return null;
end
$$;

create trigger alarms_uncount_deleted after delete on alarms
  referencing old table as old_rows
  for each statement execute function herald_uncount_deleted();
