-- /metrics counts alarms by path: Herald counts its own publishes as it commits them; alarms that
-- direct writers insert are counted here, with no cost per row: one upsert per statement, into a
-- row of the writing backend's own (so concurrent writers never wait for each other), which a
-- scrape of any instance claims by deleting it — each count is reported once, by one instance.
-- Herald's own statements are left out: they, and only they, set herald.quiet (to on or off) for
-- their transaction; in a session where it was never set, or set only by an earlier transaction,
-- it reads null or ''.
create table sql_alarm_counts (
  backend int primary key,
  alarms bigint not null
);

create function herald_count_sql_alarms() returns trigger
language plpgsql
set search_path from current
as $$
begin
  if coalesce(current_setting('herald.quiet', true), '') <> '' then
    return null;
  end if;
  insert into sql_alarm_counts as c (backend, alarms)
  select pg_backend_pid(), count(*) from inserted having count(*) > 0
  on conflict (backend) do update set alarms = c.alarms + excluded.alarms;
  return null;
end
$$;

create trigger alarms_count_sql after insert on alarms
  referencing new table as inserted
  for each statement execute function herald_count_sql_alarms();
