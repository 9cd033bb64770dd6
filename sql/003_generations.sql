-- The per-user generation counter, shared by every Herald process on this database: a newer stream
-- opened on any instance gets a higher number, and a NOTIFY tells the others to end older ones.
create table user_generations (
  user_id text primary key,
  generation bigint not null
);
