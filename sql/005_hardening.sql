-- Closing ways a writer could push Herald off its contract (issue 12).

-- A writer's explicit alarms.id could collide with the ids Herald takes from the sequence. Ids are
-- Herald's to give: an insert that names one is refused (Herald itself says OVERRIDING SYSTEM VALUE).
alter table alarms alter column id set generated always;

-- Learning a language inside the writer's transaction locked a `locales` index entry until commit:
-- two transactions introducing the same two new languages in opposite orders deadlocked. Herald now
-- remembers languages itself, in a statement of its own (store/alarms.ts rememberLocales).
drop trigger alarm_messages_locale on alarm_messages;
drop function herald_remember_locale();

-- Deleting (or moving away) every text of an alarm left it with nothing to show in any language.
-- Refused at commit, like an alarm inserted without texts; deleting the alarm itself is fine.
create function herald_keep_message() returns trigger
language plpgsql
set search_path from current
set enable_seqscan = off
as $$
begin
  if exists (select 1 from alarms where id = old.alarm_id)
     and not exists (select 1 from alarm_messages where alarm_id = old.alarm_id) then
    raise exception 'alarm % would have no row in alarm_messages', old.alarm_id
      using errcode = '23514', hint = 'delete the alarm itself (its texts go with it), or keep one text';
  end if;
  return null;
end
$$;

create constraint trigger alarm_messages_keep_one after delete or update of alarm_id on alarm_messages
  deferrable initially deferred
  for each row execute function herald_keep_message();
