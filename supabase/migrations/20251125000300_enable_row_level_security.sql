-- Row Level Security and privileges for every table.
--
-- The reference design's policies (seed-design 3.3) rewritten to Supabase practice:
-- * one policy per operation, each `to` a role, never `for all`;
-- * `(select auth.uid())` so the uid is read once per statement, not once per row;
-- * owners (workflows.user_id) read; only service_role writes; anon reads nothing;
-- * explicit privileges: Supabase's default privileges grant the API roles everything in `public`,
--   so each table first revokes them and then grants exactly what its policies allow.
-- service_role bypasses RLS on Supabase; its policies below document intent, its grants decide.

-- =============================================================================================
-- Privileges
-- =============================================================================================
revoke all on table
  public.workflows,
  public.workflow_executions,
  public.workflow_execution_logs,
  public.workflow_execution_log_counts,
  public.workflow_execution_nodes
from public, anon, authenticated, service_role;

grant select on table
  public.workflows,
  public.workflow_executions,
  public.workflow_execution_logs,
  public.workflow_execution_log_counts,
  public.workflow_execution_nodes
to authenticated, service_role;

grant insert, update, delete on table public.workflows, public.workflow_executions to service_role;
grant insert, update, delete on table public.workflow_execution_logs to service_role;

revoke all on sequence public.workflow_execution_logs_seq_seq from public, anon, authenticated;

-- =============================================================================================
-- workflows
-- =============================================================================================
alter table public.workflows enable row level security;

drop policy if exists "Owners can read their workflows" on public.workflows;
create policy "Owners can read their workflows"
  on public.workflows for select
  to authenticated
  using (user_id = (select auth.uid()));

-- =============================================================================================
-- workflow_executions
-- =============================================================================================
alter table public.workflow_executions enable row level security;

drop policy if exists "Owners can read the executions of their workflows" on public.workflow_executions;
create policy "Owners can read the executions of their workflows"
  on public.workflow_executions for select
  to authenticated
  using (
    exists (
      select 1
      from public.workflows w
      where w.id = workflow_executions.workflow_id
        and w.user_id = (select auth.uid())
    )
  );

-- =============================================================================================
-- workflow_execution_logs
-- =============================================================================================
alter table public.workflow_execution_logs enable row level security;

drop policy if exists "Owners can read their execution logs" on public.workflow_execution_logs;
create policy "Owners can read their execution logs"
  on public.workflow_execution_logs for select
  to authenticated
  using (
    exists (
      select 1
      from public.workflow_executions we
      join public.workflows w on w.id = we.workflow_id
      where we.execution_id = workflow_execution_logs.execution_id
        and w.user_id = (select auth.uid())
    )
  );

drop policy if exists "Service can read execution logs" on public.workflow_execution_logs;
create policy "Service can read execution logs"
  on public.workflow_execution_logs for select
  to service_role
  using (true);

drop policy if exists "Service can insert execution logs" on public.workflow_execution_logs;
create policy "Service can insert execution logs"
  on public.workflow_execution_logs for insert
  to service_role
  with check (true);

drop policy if exists "Service can update execution logs" on public.workflow_execution_logs;
create policy "Service can update execution logs"
  on public.workflow_execution_logs for update
  to service_role
  using (true)
  with check (true);

drop policy if exists "Service can delete execution logs" on public.workflow_execution_logs;
create policy "Service can delete execution logs"
  on public.workflow_execution_logs for delete
  to service_role
  using (true);

-- =============================================================================================
-- Statistics tables (written only by the triggers' security definer functions)
-- =============================================================================================
alter table public.workflow_execution_log_counts enable row level security;

drop policy if exists "Owners can read the log counts of their executions" on public.workflow_execution_log_counts;
create policy "Owners can read the log counts of their executions"
  on public.workflow_execution_log_counts for select
  to authenticated
  using (
    exists (
      select 1
      from public.workflow_executions we
      join public.workflows w on w.id = we.workflow_id
      where we.execution_id = workflow_execution_log_counts.execution_id
        and w.user_id = (select auth.uid())
    )
  );

alter table public.workflow_execution_nodes enable row level security;

drop policy if exists "Owners can read the nodes of their executions" on public.workflow_execution_nodes;
create policy "Owners can read the nodes of their executions"
  on public.workflow_execution_nodes for select
  to authenticated
  using (
    exists (
      select 1
      from public.workflow_executions we
      join public.workflows w on w.id = we.workflow_id
      where we.execution_id = workflow_execution_nodes.execution_id
        and w.user_id = (select auth.uid())
    )
  );
