-- Presence: which devices of a user have a stream open, on any instance (issue 14). Rows are
-- written and deleted in batches as streams open and end, never while they are idle; an instance
-- that dies without a word is left out by its missed heartbeats.

-- Every live Herald instance, and when it last said so (once per heartbeat interval).
create table herald_instances (
  id text primary key,
  seen_at timestamptz not null default now()
);

-- One row per open device stream. `device` is '' for the user's unnamed device (a client that
-- names none). `stream` tells a stream from the one that superseded it on the same device.
create table presence (
  user_id text not null,
  device text not null,
  instance text not null,
  stream text not null,
  locale text not null,
  opened_at timestamptz not null,
  primary key (user_id, device)
);

create index presence_instance on presence (instance);
