-- Wake-ups per statement, not per row or per user (issue 17): a statement that writes to users'
-- logs NOTIFYs them as a few payloads of user ids separated by newlines (a user id holds no
-- control character), each under NOTIFY's 8000-byte limit. Every instance reads every wake-up, so
-- a burst to 100,000 users was 100,000 notifications for each of them to receive and parse; now it
-- is about 100. A payload of one user id reads as before. Direct writers' inserts, updates and
-- deletes wake streams as before; Herald's quiet commits (sql/004, `herald.quiet`) still skip it.

-- Wakes these users: one NOTIFY per chunk of their ids. Chunk k holds the users whose ids start
-- within bytes [7000k, 7000(k+1)) of the joined list: at most 7,000 + 800 bytes each (the longest
-- id: 200 characters of 4 bytes). Nothing for no users.
create function herald_wake(channel text, users text[]) returns void
language plpgsql
as $$
begin
  perform pg_notify(channel, string_agg(user_id, E'\n'))
  from (
    select user_id, (sum(octet_length(user_id) + 1) over (order by user_id collate "C") - octet_length(user_id) - 1) / 7000 as chunk
    from (select distinct unnest(users) as user_id) distinct_users
  ) placed
  group by chunk;
end
$$;

drop trigger alarms_notify on alarms;
drop function herald_notify();

-- The chunking of herald_wake, written out: every insert statement runs it, and a function with
-- its own search_path (what calling herald_wake unqualified would need) costs each call more.
create function herald_notify_users() returns trigger
language plpgsql
as $$
begin
  if current_setting('herald.quiet', true) is distinct from 'on' then
    perform pg_notify('herald_' || tg_table_schema, string_agg(user_id, E'\n'))
    from (
      select user_id, (sum(octet_length(user_id) + 1) over (order by user_id collate "C") - octet_length(user_id) - 1) / 7000 as chunk
      from (select distinct user_id from inserted) distinct_users
    ) placed
    group by chunk;
  end if;
  return null;
end
$$;

create trigger alarms_notify after insert on alarms
  referencing new table as inserted
  for each statement execute function herald_notify_users();

-- Changes of state and deletions (sql/006, sql/010): as they were, but their users woken once at
-- the end of the statement instead of one NOTIFY each.
create or replace function herald_state_changes() returns trigger
language plpgsql
set search_path from current
as $$
declare
  up_to text := nullif(current_setting('herald.up_to', true), '');
  by_ids boolean := up_to is null;
  u record;
  n int;
  top bigint;
  woken text[] := '{}';
begin
  -- One pass over the changed rows, grouped by user: per kind of change, whether it happened, the
  -- alarms it happened to (only when the event lists ids), and the newest seq among them.
  for u in
    select n.user_id,
      sum((n.read_at is null and n.archived_at is null)::int - (o.read_at is null and o.archived_at is null)::int)::int as d_unread,
      sum((n.seen_at is null and n.archived_at is null)::int - (o.seen_at is null and o.archived_at is null)::int)::int as d_unseen,
      array_agg(n.id order by n.seq) filter (where by_ids and o.read_at is null and n.read_at is not null) as read_ids,
      array_agg(n.id order by n.seq) filter (where by_ids and o.read_at is not null and n.read_at is null) as unread_ids,
      array_agg(n.id order by n.seq) filter (where by_ids and o.seen_at is null and n.seen_at is not null) as seen_ids,
      array_agg(n.id order by n.seq) filter (where by_ids and o.seen_at is not null and n.seen_at is null) as unseen_ids,
      array_agg(n.id order by n.seq) filter (where by_ids and o.archived_at is null and n.archived_at is not null) as archive_ids,
      array_agg(n.id order by n.seq) filter (where by_ids and o.archived_at is not null and n.archived_at is null) as unarchive_ids,
      max(n.seq) filter (where o.read_at is null and n.read_at is not null) as read_max,
      max(n.seq) filter (where o.read_at is not null and n.read_at is null) as unread_max,
      max(n.seq) filter (where o.seen_at is null and n.seen_at is not null) as seen_max,
      max(n.seq) filter (where o.seen_at is not null and n.seen_at is null) as unseen_max,
      max(n.seq) filter (where o.archived_at is null and n.archived_at is not null) as archive_max,
      max(n.seq) filter (where o.archived_at is not null and n.archived_at is null) as unarchive_max
    from new_rows n join old_rows o using (id)
    group by n.user_id
    order by n.user_id -- one lock order for every statement: two of them never deadlock
  loop
    -- The events, in a fixed order of kinds: (kind, ids, newest seq) for each that happened.
    n := (u.read_max is not null)::int + (u.unread_max is not null)::int + (u.seen_max is not null)::int
       + (u.unseen_max is not null)::int + (u.archive_max is not null)::int + (u.unarchive_max is not null)::int;
    continue when n = 0;
    update user_seqs set last_seq = last_seq + n, unread = unread + u.d_unread, unseen = unseen + u.d_unseen
    where user_id = u.user_id
    returning last_seq into top;
    insert into user_events (user_id, seq, kind, change, ids, up_to)
    select u.user_id, top - n + row_number() over (order by e.ord), 'state', e.change,
           e.ids, case when up_to = 'all' then e.max_seq when up_to is not null then up_to::bigint end
    from (values
      (1, 'read', u.read_ids, u.read_max),
      (2, 'unread', u.unread_ids, u.unread_max),
      (3, 'seen', u.seen_ids, u.seen_max),
      (4, 'unseen', u.unseen_ids, u.unseen_max),
      (5, 'archive', u.archive_ids, u.archive_max),
      (6, 'unarchive', u.unarchive_ids, u.unarchive_max)
    ) as e(ord, change, ids, max_seq)
    where e.max_seq is not null;
    woken := woken || u.user_id;
  end loop;
  if current_setting('herald.quiet', true) is distinct from 'on' then
    perform herald_wake('herald_' || tg_table_schema, woken);
  end if;
  return null;
end
$$;

create or replace function herald_uncount_deleted() returns trigger
language plpgsql
set search_path from current
as $$
declare
  d record;
  top bigint;
  woken text[] := '{}';
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
    select coalesce(array_agg(user_id), '{}') into woken from changed;
    perform herald_wake('herald_' || tg_table_schema, woken);
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
    woken := woken || d.user_id;
  end loop;
  if current_setting('herald.quiet', true) is distinct from 'on' then
    perform herald_wake('herald_' || tg_table_schema, woken);
  end if;
  return null;
end
$$;
