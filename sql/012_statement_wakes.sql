-- Wake-ups per statement, not per row (issue 17): an insert statement NOTIFYs the users it wrote
-- for as a few payloads of user ids separated by newlines (a user id holds no control character),
-- each under NOTIFY's 8000-byte limit. Every instance reads every wake-up, so a burst to 100,000
-- users was 100,000 notifications for each of them to receive and parse; now it is about 100.
-- A payload of one user id reads as before, so the triggers that still wake one user at a time
-- (state changes, deletes: sql/006, sql/010) share the channel unchanged. Direct writers' inserts
-- wake streams as before; Herald's quiet commits (sql/004, `herald.quiet`) still skip it.
drop trigger alarms_notify on alarms;
drop function herald_notify();

create function herald_notify_users() returns trigger
language plpgsql
as $$
begin
  if current_setting('herald.quiet', true) is distinct from 'on' then
    -- Chunk k holds the users whose ids start within bytes [7000k, 7000(k+1)) of the joined list:
    -- at most 7,000 + 800 bytes each (the longest id: 200 characters of 4 bytes).
    perform pg_notify('herald_' || tg_table_schema, string_agg(user_id, E'\n'))
    from (
      select user_id, (sum(octet_length(user_id) + 1) over (order by user_id collate "C") - octet_length(user_id) - 1) / 7000 as chunk
      from (select distinct user_id from inserted) users
    ) placed
    group by chunk;
  end if;
  return null;
end
$$;

create trigger alarms_notify after insert on alarms
  referencing new table as inserted
  for each statement execute function herald_notify_users();
