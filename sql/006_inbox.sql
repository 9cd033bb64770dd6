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

-- No index on the state columns, on purpose: a mark is an UPDATE of them, and a column an index
-- names (also in a partial index's WHERE) makes every such update write a new entry in every index
-- of the table (mark-all-read of 10,000 alarms: 190 ms with partial indexes on read_at and seen_at,
-- 90 ms without). A user's unread or unseen alarms are read along (user_id, seq), which every
-- history page and every mark-all already uses. Free space on each page lets most marks be HOT
-- updates (no index entry at all).
alter table alarms set (fillfactor = 90);

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
  by_ids boolean := up_to is null;
  u record;
  n int;
  top bigint;
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
