-- Per-execution statistics kept current by statement-level triggers.
--
-- Why: a page's total_count and the summary's counts must not scan the run. An exact count(*) of a
-- 100k-log execution costs ~12 ms; these tables answer the same question from a few dozen rows.
--
-- * workflow_execution_log_counts: one row per (execution, category, level, event type, milestone,
--   display priority) with its count and time span. Any filter on those columns is a sum over a few
--   dozen rows (a run rarely uses more than a handful of the combinations).
-- * workflow_execution_nodes: one row per node of an execution: name, count, step, status (from the
--   node's last step_started / step_completed / step_error) and time span; the summary's `nodes`.
--
-- Inserts are applied incrementally, once per statement (transition tables), so a 5,000-row batch
-- costs two grouped upserts, not 5,000 row triggers. Updates and deletes (rare: logs are append-only
-- in practice) recompute the affected executions from the logs table, which is always correct.

create schema if not exists workflow_logs_private;
comment on schema workflow_logs_private is 'Internal helpers of workflow-logs. Not exposed through PostgREST; nothing here is granted to API roles except usage for the pure formatting helpers.';
revoke all on schema workflow_logs_private from public;
grant usage on schema workflow_logs_private to anon, authenticated, service_role;

-- =============================================================================================
-- Tables
-- =============================================================================================
create table if not exists public.workflow_execution_log_counts (
  execution_id varchar(255) not null,
  log_category varchar(20) not null,
  level public.log_level_enum not null,
  event_type public.log_event_type_enum not null,
  is_milestone boolean not null,
  display_priority integer not null,
  log_count bigint not null,
  first_log_at timestamptz not null,
  last_log_at timestamptz not null,
  last_seq bigint not null,
  primary key (execution_id, log_category, level, event_type, is_milestone, display_priority)
);

comment on table public.workflow_execution_log_counts is 'Log counts of each execution by category, level, event type, milestone flag and display priority, maintained by triggers on workflow_execution_logs. Serves total_count and summaries without scanning.';

create table if not exists public.workflow_execution_nodes (
  execution_id varchar(255) not null,
  node_id varchar(255) not null,
  node_name varchar(255),
  node_type varchar(100),
  log_count bigint not null,
  step_number integer,
  status text not null default 'running',
  status_seq bigint,
  duration_seconds integer,
  first_log_at timestamptz not null,
  last_log_at timestamptz not null,
  primary key (execution_id, node_id),
  constraint workflow_execution_nodes_status_check check (status in ('running', 'completed', 'failed'))
);

comment on table public.workflow_execution_nodes is 'One row per node of an execution (name, log count, step, status from its last step event, time span), maintained by triggers on workflow_execution_logs.';
comment on column public.workflow_execution_nodes.status_seq is 'seq of the step_started / step_completed / step_error entry that set status; a later one wins.';

-- The node status an event implies, or null when the event says nothing about it.
create or replace function workflow_logs_private.node_status(event_type public.log_event_type_enum)
returns text
language sql
immutable
parallel safe
as $$
  select case event_type
    when 'step_started' then 'running'
    when 'step_completed' then 'completed'
    when 'step_error' then 'failed'
  end
$$;

comment on function workflow_logs_private.node_status(public.log_event_type_enum) is 'Node status implied by a step event (running / completed / failed), null for other events. Inlined by the planner, so it has no search_path setting.';

-- =============================================================================================
-- Recompute (used by update/delete triggers; also a repair tool for operators)
-- =============================================================================================
create or replace function workflow_logs_private.refresh_execution_stats(execution_ids text[])
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  delete from public.workflow_execution_log_counts c where c.execution_id = any (execution_ids);
  delete from public.workflow_execution_nodes n where n.execution_id = any (execution_ids);

  insert into public.workflow_execution_log_counts
    (execution_id, log_category, level, event_type, is_milestone, display_priority,
     log_count, first_log_at, last_log_at, last_seq)
  select l.execution_id, l.log_category, l.level, l.event_type, l.is_milestone, l.display_priority,
         count(*), min(l.created_at), max(l.created_at), max(l.seq)
  from public.workflow_execution_logs l
  where l.execution_id = any (execution_ids)
  group by 1, 2, 3, 4, 5, 6;

  insert into public.workflow_execution_nodes
    (execution_id, node_id, node_name, node_type, log_count, step_number, status, status_seq,
     duration_seconds, first_log_at, last_log_at)
  select l.execution_id, l.node_id,
         (array_agg(l.node_name order by l.seq desc) filter (where l.node_name is not null))[1],
         (array_agg(l.node_type order by l.seq desc) filter (where l.node_type is not null))[1],
         count(*),
         (array_agg(l.step_number order by l.seq desc) filter (where l.step_number is not null))[1],
         coalesce((array_agg(workflow_logs_private.node_status(l.event_type) order by l.seq desc)
                     filter (where workflow_logs_private.node_status(l.event_type) is not null))[1], 'running'),
         max(l.seq) filter (where workflow_logs_private.node_status(l.event_type) is not null),
         (array_agg(l.duration_seconds order by l.seq desc) filter (where l.duration_seconds is not null))[1],
         min(l.created_at), max(l.created_at)
  from public.workflow_execution_logs l
  where l.execution_id = any (execution_ids) and l.node_id is not null
  group by 1, 2;
end;
$$;

comment on function workflow_logs_private.refresh_execution_stats(text[]) is 'Rebuilds the counts and node rows of the given executions from workflow_execution_logs.';

-- =============================================================================================
-- Triggers
-- =============================================================================================
create or replace function workflow_logs_private.apply_inserted_log_stats()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- Ordered by key so two concurrent batches lock counter rows in the same order (no deadlock).
  insert into public.workflow_execution_log_counts as c
    (execution_id, log_category, level, event_type, is_milestone, display_priority,
     log_count, first_log_at, last_log_at, last_seq)
  select r.execution_id, r.log_category, r.level, r.event_type, r.is_milestone, r.display_priority,
         count(*), min(r.created_at), max(r.created_at), max(r.seq)
  from new_rows r
  group by 1, 2, 3, 4, 5, 6
  order by 1, 2, 3, 4, 5, 6
  on conflict (execution_id, log_category, level, event_type, is_milestone, display_priority) do update
    set log_count = c.log_count + excluded.log_count,
        first_log_at = least(c.first_log_at, excluded.first_log_at),
        last_log_at = greatest(c.last_log_at, excluded.last_log_at),
        last_seq = greatest(c.last_seq, excluded.last_seq);

  insert into public.workflow_execution_nodes as n
    (execution_id, node_id, node_name, node_type, log_count, step_number, status, status_seq,
     duration_seconds, first_log_at, last_log_at)
  select r.execution_id, r.node_id,
         (array_agg(r.node_name order by r.seq desc) filter (where r.node_name is not null))[1],
         (array_agg(r.node_type order by r.seq desc) filter (where r.node_type is not null))[1],
         count(*),
         (array_agg(r.step_number order by r.seq desc) filter (where r.step_number is not null))[1],
         coalesce((array_agg(workflow_logs_private.node_status(r.event_type) order by r.seq desc)
                     filter (where workflow_logs_private.node_status(r.event_type) is not null))[1], 'running'),
         max(r.seq) filter (where workflow_logs_private.node_status(r.event_type) is not null),
         (array_agg(r.duration_seconds order by r.seq desc) filter (where r.duration_seconds is not null))[1],
         min(r.created_at), max(r.created_at)
  from new_rows r
  where r.node_id is not null
  group by 1, 2
  order by 1, 2
  on conflict (execution_id, node_id) do update
    set node_name = coalesce(excluded.node_name, n.node_name),
        node_type = coalesce(excluded.node_type, n.node_type),
        log_count = n.log_count + excluded.log_count,
        step_number = coalesce(excluded.step_number, n.step_number),
        status = case
          when excluded.status_seq > coalesce(n.status_seq, 0) then excluded.status
          else n.status
        end,
        status_seq = greatest(n.status_seq, excluded.status_seq),
        duration_seconds = coalesce(excluded.duration_seconds, n.duration_seconds),
        first_log_at = least(n.first_log_at, excluded.first_log_at),
        last_log_at = greatest(n.last_log_at, excluded.last_log_at);
  return null;
end;
$$;

create or replace function workflow_logs_private.refresh_changed_log_stats()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  ids text[];
begin
  if tg_op = 'TRUNCATE' then
    truncate public.workflow_execution_log_counts, public.workflow_execution_nodes;
    return null;
  elsif tg_op = 'UPDATE' then
    select array_agg(distinct x.execution_id) into ids
    from (select o.execution_id from old_rows o union select n.execution_id from new_rows n) x;
  else
    select array_agg(distinct o.execution_id) into ids from old_rows o;
  end if;
  if ids is not null then
    perform workflow_logs_private.refresh_execution_stats(ids);
  end if;
  return null;
end;
$$;

comment on function workflow_logs_private.apply_inserted_log_stats() is 'Statement-level AFTER INSERT trigger: adds a batch to the counts and node tables.';
comment on function workflow_logs_private.refresh_changed_log_stats() is 'Statement-level AFTER UPDATE / DELETE / TRUNCATE trigger: recomputes the stats of the executions touched.';

revoke all on function workflow_logs_private.refresh_execution_stats(text[]) from public;
revoke all on function workflow_logs_private.apply_inserted_log_stats() from public;
revoke all on function workflow_logs_private.refresh_changed_log_stats() from public;

drop trigger if exists workflow_execution_logs_stats_insert on public.workflow_execution_logs;
create trigger workflow_execution_logs_stats_insert
  after insert on public.workflow_execution_logs
  referencing new table as new_rows
  for each statement execute function workflow_logs_private.apply_inserted_log_stats();

drop trigger if exists workflow_execution_logs_stats_update on public.workflow_execution_logs;
create trigger workflow_execution_logs_stats_update
  after update on public.workflow_execution_logs
  referencing old table as old_rows new table as new_rows
  for each statement execute function workflow_logs_private.refresh_changed_log_stats();

drop trigger if exists workflow_execution_logs_stats_delete on public.workflow_execution_logs;
create trigger workflow_execution_logs_stats_delete
  after delete on public.workflow_execution_logs
  referencing old table as old_rows
  for each statement execute function workflow_logs_private.refresh_changed_log_stats();

drop trigger if exists workflow_execution_logs_stats_truncate on public.workflow_execution_logs;
create trigger workflow_execution_logs_stats_truncate
  after truncate on public.workflow_execution_logs
  for each statement execute function workflow_logs_private.refresh_changed_log_stats();
