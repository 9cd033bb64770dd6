-- With Redis carrying the wake-ups, Herald's own publishes skip NOTIFY: every NOTIFY takes one
-- database-wide lock at commit, which serialises committing publishers. A publish sets
-- `herald.quiet` for its own transaction only; anyone else writing alarms is still announced.
create or replace function herald_notify() returns trigger
language plpgsql
as $$
begin
  if current_setting('herald.quiet', true) is distinct from 'on' then
    perform pg_notify('herald_' || tg_table_schema, new.user_id);
  end if;
  return null;
end
$$;
