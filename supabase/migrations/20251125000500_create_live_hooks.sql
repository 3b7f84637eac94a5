-- Live hooks: how new logs and status changes leave the database.
--
-- 1. NOTIFY for the bridge: one notification per statement per execution on channel
--    `workflow_execution_logs`, payload only {"execution_id", "seq"} (the highest seq written), and
--    one {"execution_id", "status"} when an execution's status changes. A notification is a hint:
--    readers re-read `seq > cursor`, so a lost one costs nothing, and a 5,000-row batch costs one
--    notification, not 5,000. Payloads never carry rows (NOTIFY payloads are capped at 8000 bytes).
-- 2. Supabase Realtime for supabase-js clients, two ways:
--    * Broadcast (Supabase's recommended path at scale): one realtime.send per statement per
--      execution to the private topic `execution:<execution_id>`, event `logs`, carrying the new
--      LogEntry objects when the batch is small (<= 100 entries and <= 64 KB) and otherwise only the
--      seq range to fetch with get_execution_logs(after => ...); event `status` on status changes.
--      The setting `workflow_logs.broadcast` ('inline' by default, 'hint' = seq range only, 'off')
--      lets a deployment that reads through the bridge skip writing every small batch twice.
--      A policy on realtime.messages lets only the execution's owner join the topic.
--    * postgres_changes: the logs and executions tables are in the supabase_realtime publication.

-- =============================================================================================
-- NOTIFY
-- =============================================================================================
create or replace function workflow_logs_private.notify_logs_inserted()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform pg_notify(
    'workflow_execution_logs',
    json_build_object('execution_id', r.execution_id, 'seq', max(r.seq))::text
  )
  from new_rows r
  group by r.execution_id;
  return null;
end;
$$;

comment on function workflow_logs_private.notify_logs_inserted() is 'Statement-level AFTER INSERT trigger: one pg_notify(''workflow_execution_logs'', {execution_id, seq}) per execution written by the statement.';

drop trigger if exists workflow_execution_logs_notify on public.workflow_execution_logs;
create trigger workflow_execution_logs_notify
  after insert on public.workflow_execution_logs
  referencing new table as new_rows
  for each statement execute function workflow_logs_private.notify_logs_inserted();

-- =============================================================================================
-- Broadcast
-- =============================================================================================
create or replace function workflow_logs_private.broadcast_logs_inserted()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  sent bigint;
  mode text := coalesce(nullif(current_setting('workflow_logs.broadcast', true), ''), 'inline');
begin
  -- Deployments that read through the bridge only can turn Broadcast off, or keep the hint without the
  -- entries: `alter database ... set workflow_logs.broadcast = 'off' | 'hint' | 'inline'` (default).
  if mode = 'off' then
    return null;
  end if;
  -- Two grouped passes over the statement's rows, whatever the number of executions it touched.
  -- (The size is only measured for the small groups that may be sent inline.)
  with per_execution as (
    select r.execution_id, min(r.seq) as first_seq, max(r.seq) as last_seq, count(*) as n
    from new_rows r
    group by r.execution_id
  ),
  inline_logs as (
    select r.execution_id, jsonb_agg(workflow_logs_private.log_entry(r) order by r.seq) as logs
    from new_rows r
    join per_execution g on g.execution_id = r.execution_id
    where g.n <= 100 and mode <> 'hint'
    group by r.execution_id
    having sum(pg_column_size(r.*)) <= 65536
  )
  select count(realtime.send(
           jsonb_build_object(
             'execution_id', g.execution_id,
             'first_seq', g.first_seq,
             'last_seq', g.last_seq,
             'count', g.n,
             'logs', i.logs
           ),
           'logs',
           'execution:' || g.execution_id,
           true
         ))
    into strict sent
  from per_execution g
  left join inline_logs i on i.execution_id = g.execution_id;
  return null;
end;
$$;

comment on function workflow_logs_private.broadcast_logs_inserted() is 'Statement-level AFTER INSERT trigger: one Realtime Broadcast per execution to the private topic execution:<id> (event logs), with the entries when the batch is small, else the seq range to fetch.';

drop trigger if exists workflow_execution_logs_broadcast on public.workflow_execution_logs;
create trigger workflow_execution_logs_broadcast
  after insert on public.workflow_execution_logs
  referencing new table as new_rows
  for each statement execute function workflow_logs_private.broadcast_logs_inserted();

-- =============================================================================================
-- Execution status changes
-- =============================================================================================
create or replace function workflow_logs_private.announce_status_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform pg_notify(
    'workflow_execution_logs',
    json_build_object('execution_id', new.execution_id, 'status', new.status)::text
  );
  perform realtime.send(
    jsonb_build_object('execution_id', new.execution_id, 'status', new.status,
                       'end_time', new.end_time, 'error_message', new.error_message),
    'status',
    'execution:' || new.execution_id,
    true
  );
  return null;
end;
$$;

comment on function workflow_logs_private.announce_status_change() is 'AFTER UPDATE OF status trigger: pg_notify {execution_id, status} and a Broadcast (event status) when an execution''s status changes.';

drop trigger if exists workflow_executions_status_changed on public.workflow_executions;
create trigger workflow_executions_status_changed
  after update of status on public.workflow_executions
  for each row
  when (old.status is distinct from new.status)
  execute function workflow_logs_private.announce_status_change();

revoke all on function workflow_logs_private.notify_logs_inserted() from public, anon, authenticated, service_role;
revoke all on function workflow_logs_private.broadcast_logs_inserted() from public, anon, authenticated, service_role;
revoke all on function workflow_logs_private.announce_status_change() from public, anon, authenticated, service_role;

-- =============================================================================================
-- Realtime authorization: only the owner of an execution may join `execution:<execution_id>`
-- =============================================================================================
drop policy if exists "Owners can receive broadcasts of their executions" on realtime.messages;
create policy "Owners can receive broadcasts of their executions"
  on realtime.messages for select
  to authenticated
  using (
    realtime.messages.extension = 'broadcast'
    and (select realtime.topic()) like 'execution:%'
    and exists (
      select 1
      from public.workflow_executions we
      join public.workflows w on w.id = we.workflow_id
      where we.execution_id = substr((select realtime.topic()), length('execution:') + 1)
        and w.user_id = (select auth.uid())
    )
  );

-- =============================================================================================
-- postgres_changes
-- =============================================================================================
do $$
begin
  if not exists (
    select 1 from pg_publication_tables
    where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'workflow_execution_logs'
  ) then
    alter publication supabase_realtime add table public.workflow_execution_logs;
  end if;
  if not exists (
    select 1 from pg_publication_tables
    where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'workflow_executions'
  ) then
    alter publication supabase_realtime add table public.workflow_executions;
  end if;
end
$$;
