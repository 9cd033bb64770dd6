-- Templates (issue 15): ICU MessageFormat texts per language under a key, rendered when an alarm is
-- read, in the reader's language and time zone. An alarm names a template and holds its params
-- instead of rows in alarm_messages.

create table templates (
  key text primary key check (key ~ '^[A-Za-z0-9._-]{1,200}$'),
  -- Bumped by every change of the texts or the description: GET shows it, caches compare it.
  version integer not null default 1 check (version >= 1),
  -- Locale → text. One object, so a PUT replaces every text of a key in one row, atomically.
  messages jsonb not null check (jsonb_typeof(messages) = 'object' and messages <> '{}'::jsonb),
  -- Argument → type ('string', 'number', 'date'): fixed once created, stored alarms rely on it.
  arguments jsonb not null check (jsonb_typeof(arguments) = 'object'),
  description text check (char_length(description) <= 1000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- A template alarm: its key and params. The key is checked at commit (deferred), so a direct writer
-- may create the template in the same transaction; an unknown one is refused there. A template in
-- use cannot be deleted.
alter table alarms
  add column template_key text references templates (key) deferrable initially deferred,
  add column params jsonb check (params is null or jsonb_typeof(params) = 'object'),
  add constraint alarms_params_need_template check (params is null or template_key is not null);

-- Every alarm has something to show: texts in alarm_messages, or a template (never both).
-- (Replacing a function replaces its settings too: enable_seqscan = off from 002 is given again.)
create or replace function herald_require_message() returns trigger
language plpgsql
set search_path from current
set enable_seqscan = off
as $$
declare
  templated boolean;
begin
  select template_key is not null into templated from alarms where id = new.id;
  if templated is null then
    return null; -- deleted in the same transaction
  end if;
  if templated then
    if exists (select 1 from alarm_messages where alarm_id = new.id) then
      raise exception 'alarm % has a template and rows in alarm_messages', new.id
        using errcode = '23514', hint = 'an alarm takes its texts from alarm_messages or from its template, not both';
    end if;
  elsif not exists (select 1 from alarm_messages where alarm_id = new.id) then
    raise exception 'alarm % has no row in alarm_messages', new.id
      using errcode = '23514', hint = 'insert the alarm and its messages in one transaction, or give it a template_key';
  end if;
  return null;
end
$$;

-- Deleting a template alarm's (non-existent) texts is no concern; a text alarm keeps one text.
create or replace function herald_keep_message() returns trigger
language plpgsql
set search_path from current
set enable_seqscan = off
as $$
begin
  if exists (select 1 from alarms where id = old.alarm_id and template_key is null)
     and not exists (select 1 from alarm_messages where alarm_id = old.alarm_id) then
    raise exception 'alarm % would have no row in alarm_messages', old.alarm_id
      using errcode = '23514', hint = 'delete the alarm itself (its texts go with it), or keep one text';
  end if;
  return null;
end
$$;

-- Every instance keeps a copy of the templates it renders: a change (by Herald on any instance, or
-- by hand) is announced on commit, on a channel named after the schema like the alarms' own. With
-- Redis carrying the signals, Herald's own changes commit quietly and are announced there instead.
create function herald_template_changed() returns trigger
language plpgsql
as $$
begin
  if current_setting('herald.quiet', true) is distinct from 'on' then
    perform pg_notify('herald_' || tg_table_schema || '_templates', coalesce(new.key, old.key));
  end if;
  return null;
end
$$;

create trigger templates_changed after insert or update or delete on templates
  for each row execute function herald_template_changed();
