-- Workflows, their executions, and the execution logs.
--
-- `workflow_execution_logs` is the reference design's table (seed-design 3.1) column for column, plus
-- `seq`: a monotonic bigint that is the cursor for pagination and the SSE event id. Rules the design
-- only stated (category values, priority and progress ranges, the 10 KB entry limit of 6.1) are
-- enforced here as check constraints, so no writer can break them.
--
-- Indexes follow the queries of the SQL API (20251125000400_create_log_api.sql), one per query shape;
-- see the README for why the design's single-column and 30-day partial indexes are not here.

-- =============================================================================================
-- Enums (seed-design 3.1)
-- =============================================================================================
do $$
begin
  create type public.log_level_enum as enum ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL');
exception
  when duplicate_object then null;
end
$$;

do $$
begin
  create type public.log_event_type_enum as enum (
    'workflow_started', 'workflow_completed', 'workflow_progress',
    'step_started', 'step_input', 'step_output', 'step_completed', 'step_error',
    'separator'
  );
exception
  when duplicate_object then null;
end
$$;

comment on type public.log_level_enum is 'Severity of a technical log entry.';
comment on type public.log_event_type_enum is 'What happened in the workflow that the log entry records.';

-- =============================================================================================
-- workflows: who owns what (the RLS chain starts here)
-- =============================================================================================
create table if not exists public.workflows (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  name text not null,
  description text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint workflows_name_check check (length(name) between 1 and 255)
);

comment on table public.workflows is 'A workflow definition; its owner (user_id) can read the logs of all its executions.';
comment on column public.workflows.user_id is 'Owner: the auth.users id that RLS compares with auth.uid().';

-- Read by the RLS policies of all three tables.
create index if not exists workflows_user_id_idx on public.workflows (user_id);

-- =============================================================================================
-- workflow_executions: one run of a workflow
-- =============================================================================================
create table if not exists public.workflow_executions (
  execution_id varchar(255) primary key,
  workflow_id uuid not null references public.workflows (id) on delete cascade,
  status text not null default 'NEW',
  start_time timestamptz not null default now(),
  end_time timestamptz,
  error_message text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint workflow_executions_status_check check (
    status in ('NEW', 'RUNNING', 'WAITING_FOR_HUMAN', 'PAUSED', 'SUCCESS', 'ERROR', 'CANCELED', 'TIMEOUT')
  ),
  constraint workflow_executions_time_check check (end_time is null or end_time >= start_time)
);

comment on table public.workflow_executions is 'One run of a workflow. NEW, RUNNING, WAITING_FOR_HUMAN and PAUSED are running states; SUCCESS, ERROR, CANCELED and TIMEOUT are final.';
comment on column public.workflow_executions.status is 'NEW | RUNNING | WAITING_FOR_HUMAN | PAUSED (running) or SUCCESS | ERROR | CANCELED | TIMEOUT (finished).';

-- get_recent_logs: the latest executions of a workflow; also the RLS join on workflow_id.
create index if not exists workflow_executions_workflow_id_start_time_idx
  on public.workflow_executions (workflow_id, start_time desc);

-- =============================================================================================
-- workflow_execution_logs (seed-design 3.1, plus seq)
-- =============================================================================================
create table if not exists public.workflow_execution_logs (
  id uuid primary key default gen_random_uuid(),
  execution_id varchar(255) not null,
  log_category varchar(20) not null default 'technical',
  event_type public.log_event_type_enum not null,
  level public.log_level_enum not null default 'INFO',
  message text not null,
  data jsonb default '{}',
  node_id varchar(255),
  node_name varchar(255),
  node_type varchar(100),
  step_number integer,
  total_steps integer,
  progress_percentage decimal(5, 2),
  duration_seconds integer,
  user_friendly_message text,
  display_priority integer not null default 5,
  is_milestone boolean not null default false,
  technical_details jsonb default '{}',
  stack_trace text,
  performance_metrics jsonb default '{}',
  created_at timestamptz not null default now(),
  -- Cache 1 (the default) keeps seq in allocation order across sessions; a per-backend cache would
  -- hand out blocks and break the cursor's monotonicity.
  seq bigint generated always as identity,
  constraint workflow_execution_logs_log_category_check check (log_category in ('business', 'technical')),
  constraint workflow_execution_logs_display_priority_check check (display_priority between 1 and 10),
  constraint workflow_execution_logs_progress_percentage_check check (progress_percentage between 0 and 100),
  constraint workflow_execution_logs_step_check check (
    (step_number is null or step_number >= 0) and (total_steps is null or total_steps >= 0)
  ),
  constraint workflow_execution_logs_json_fields_check check (
    (data is null or jsonb_typeof(data) = 'object')
    and (technical_details is null or jsonb_typeof(technical_details) = 'object')
    and (performance_metrics is null or jsonb_typeof(performance_metrics) = 'object')
  ),
  constraint workflow_execution_logs_duration_seconds_check check (duration_seconds is null or duration_seconds >= 0),
  -- seed-design 6.1: at most 10 KB per log entry, counted over every free-form field. pg_column_size
  -- of a jsonb value is its binary size before compression (the check runs before TOAST).
  constraint workflow_execution_logs_entry_size_check check (
    octet_length(message)
    + coalesce(octet_length(user_friendly_message), 0)
    + coalesce(octet_length(stack_trace), 0)
    + coalesce(pg_column_size(data), 0)
    + coalesce(pg_column_size(technical_details), 0)
    + coalesce(pg_column_size(performance_metrics), 0)
    <= 10240
  )
);

comment on table public.workflow_execution_logs is 'Business (user-facing progress) and technical (debugging) log entries of workflow executions. Append through append_execution_logs(); read through get_execution_logs() and friends.';
comment on column public.workflow_execution_logs.seq is 'Monotonic position: the pagination cursor (after=) and the SSE event id. Within one execution, seq order is commit order for writers that go through append_execution_logs().';
comment on column public.workflow_execution_logs.log_category is 'business (read by people as progress) or technical (read by engineers).';
comment on column public.workflow_execution_logs.display_priority is 'Importance for display, 1 (low) to 10 (high).';
comment on column public.workflow_execution_logs.user_friendly_message is 'What a person reads; the API falls back to message when it is null.';

-- The cursor/offset page of one execution, the newest-first read of get_recent_logs, and the RLS
-- policy's lookup by execution: (execution_id, seq) serves them all.
create index if not exists workflow_execution_logs_execution_id_seq_idx
  on public.workflow_execution_logs (execution_id, seq);

-- A page filtered by level (e.g. only ERROR) must not walk every INFO row of a big run to find a few
-- errors; seq as the last key keeps the cursor an index range.
create index if not exists workflow_execution_logs_execution_id_level_seq_idx
  on public.workflow_execution_logs (execution_id, level, seq);

-- The business view (log_category = 'business') of a run; same reasoning as level.
create index if not exists workflow_execution_logs_execution_id_log_category_seq_idx
  on public.workflow_execution_logs (execution_id, log_category, seq);

-- Milestones: the summary's milestone list and the milestones_only filter. Partial, so it costs a
-- write only for the few rows that are milestones.
create index if not exists workflow_execution_logs_milestones_idx
  on public.workflow_execution_logs (execution_id, seq)
  where is_milestone;

-- start_time / end_time filters: a window of a long run is an index range instead of a scan.
create index if not exists workflow_execution_logs_execution_id_created_at_idx
  on public.workflow_execution_logs (execution_id, created_at);
