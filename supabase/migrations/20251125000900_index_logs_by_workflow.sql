-- Logs indexed by workflow: a workflow page is one index range scan, a search is one GIN scan.
--
-- 20251125000800 read a workflow's logs through its executions: a page cost one index probe per
-- execution with matching logs after the cursor, and a search intersected the GIN index of every log
-- with each execution. Here the logs carry their execution's workflow (workflow_id, denormalised) and:
--
-- * a cursor page of get_workflow_logs is one range scan of (workflow_id, seq) per partition, merged by
--   seq (Merge Append), stopping after offset + limit + 1 rows whatever the number of executions;
--   milestones_only has its partial index (workflow_id, seq) where is_milestone;
-- * search (q) reads one GIN index over (workflow_id, execution_id, search_vector) (btree_gin): the
--   posting list of the workflow or of the execution is intersected with those of the words, so a word
--   common in the whole table costs what the workflow's (or execution's) share of it costs. It replaces
--   the GIN index of search_vector alone (a GIN index serves any subset of its columns), so each log
--   still feeds one GIN index.
--
-- workflow_id is set on every write path:
-- * append_execution_logs (insert_log_entries) sets it from the lookup of the batch's executions it
--   already does for retention (one map for the batch, rows still read in array order);
-- * a direct INSERT or COPY that leaves it null has it filled by a BEFORE INSERT trigger (one primary
--   key probe of workflow_executions per row, only for rows that arrive without it: the trigger's WHEN
--   clause is evaluated without calling the function);
-- * an execution moved to another workflow takes its logs along (trigger on workflow_executions).
-- A row whose execution does not exist when it is written keeps a null workflow_id and belongs to no
-- workflow page (as before, where pages joined through workflow_executions).
--
-- Upgrading a large table: the backfill rewrites every row once (partition by partition, before the
-- new indexes exist, so only the existing b-tree indexes are maintained) and the index builds read the
-- table; both run under the migration's locks. On a table of tens of millions of rows, run the
-- backfill in batches and build the indexes per partition with `create index concurrently` before
-- applying this file (`if not exists` then skips them; attach each partition's index to the parent's
-- with `alter index ... attach partition`).

-- =============================================================================================
-- btree_gin: b-tree equality (uuid, varchar) inside a GIN index
-- =============================================================================================
-- Supabase has it in schema extensions; plain Postgres 15+ and the embedded Postgres ship it in contrib.
create schema if not exists extensions;
create extension if not exists btree_gin with schema extensions;

-- =============================================================================================
-- The column
-- =============================================================================================
alter table public.workflow_execution_logs add column if not exists workflow_id uuid;

comment on column public.workflow_execution_logs.workflow_id is 'The workflow of the log''s execution (workflow_executions.workflow_id), copied when the row is written so that a workflow''s logs are one index range. Set by append_execution_logs, else by a trigger from execution_id; null only for a row whose execution did not exist when it was written.';

-- =============================================================================================
-- Backfill (before the new indexes exist: the update maintains only the existing b-trees)
-- =============================================================================================
-- The old single-column GIN index goes first: the combined one below replaces it, and an update would
-- otherwise write every row's words into it again.
drop index if exists public.workflow_execution_logs_search_vector_idx;

-- Fills workflow_id where it is null and the execution exists; returns the rows filled. Partition by
-- partition, so that the parent's statement triggers (the maintained counts, which do not depend on
-- workflow_id) do not rebuild a transition table of the whole table. Run once here; again by hand after
-- loading rows with triggers disabled (session_replication_role = replica).
create or replace function workflow_logs_private.backfill_log_workflow_ids()
returns bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  p regclass;
  v_rows bigint;
  v_total bigint := 0;
begin
  for p in
    select i.inhrelid::regclass
    from pg_catalog.pg_inherits i
    where i.inhparent = 'public.workflow_execution_logs'::regclass
  loop
    execute format(
      'update %s l set workflow_id = we.workflow_id'
      ' from public.workflow_executions we'
      ' where we.execution_id = l.execution_id and l.workflow_id is null', p);
    get diagnostics v_rows = row_count;
    v_total := v_total + v_rows;
  end loop;
  return v_total;
end;
$$;

comment on function workflow_logs_private.backfill_log_workflow_ids() is 'Sets workflow_execution_logs.workflow_id from workflow_executions where it is null, partition by partition; returns the number of rows set. For the database owner.';

select workflow_logs_private.backfill_log_workflow_ids();

-- =============================================================================================
-- Indexes
-- =============================================================================================
-- get_workflow_logs: a (cursor) page, every filter but milestones_only applied to the range.
create index if not exists workflow_execution_logs_workflow_id_seq_idx
  on public.workflow_execution_logs (workflow_id, seq);

-- get_workflow_logs(milestones_only => true): about one log in hundreds is a milestone.
create index if not exists workflow_execution_logs_workflow_id_milestones_idx
  on public.workflow_execution_logs (workflow_id, seq) where is_milestone;

-- q on an execution, on a workflow (or on everything).
create index if not exists workflow_execution_logs_workflow_execution_search_idx
  on public.workflow_execution_logs using gin (workflow_id, execution_id, search_vector);

-- =============================================================================================
-- Write paths
-- =============================================================================================
-- append_execution_logs: the batch's executions give each row its expiry and its workflow.
create or replace function workflow_logs_private.insert_log_entries(logs jsonb)
returns setof bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_default integer := workflow_logs_private.default_retention_days();
  v_executions jsonb;
begin
  -- Per execution of the batch (a few): [retention days, workflow id]. A map looked up per row, so the
  -- insert reads the array straight through and seq follows array order (a join could reorder rows).
  select jsonb_object_agg(we.execution_id,
                          jsonb_build_array(coalesce(w.log_retention_days, v_default), we.workflow_id))
    into v_executions
  from public.workflow_executions we
  join public.workflows w on w.id = we.workflow_id
  where we.execution_id in (select distinct e ->> 'execution_id' from jsonb_array_elements(logs) e);

  return query
  insert into public.workflow_execution_logs as l (
    id, execution_id, log_category, event_type, level, message, data, node_id, node_name, node_type,
    step_number, total_steps, progress_percentage, duration_seconds, user_friendly_message,
    display_priority, is_milestone, technical_details, stack_trace, performance_metrics, created_at,
    expires_on, workflow_id)
  select coalesce(r.id, gen_random_uuid()),
         r.execution_id,
         coalesce(lower(r.log_category), 'technical'),
         lower(r.event_type)::public.log_event_type_enum,
         coalesce(upper(r.level), 'INFO')::public.log_level_enum,
         r.message,
         coalesce(r.data, '{}'::jsonb),
         r.node_id, r.node_name, r.node_type,
         r.step_number, r.total_steps, r.progress_percentage, r.duration_seconds,
         r.user_friendly_message,
         coalesce(r.display_priority, 5),
         coalesce(r.is_milestone, false),
         coalesce(r.technical_details, '{}'::jsonb),
         r.stack_trace,
         coalesce(r.performance_metrics, '{}'::jsonb),
         coalesce(r.created_at, now()),
         (coalesce(r.created_at, now()) at time zone 'UTC')::date
           + coalesce((v_executions -> r.execution_id ->> 0)::integer, v_default),
         (v_executions -> r.execution_id ->> 1)::uuid
  from jsonb_to_recordset(logs) as r(
    id uuid, execution_id text, log_category text, event_type text, level text, message text, data jsonb,
    node_id text, node_name text, node_type text, step_number integer, total_steps integer,
    progress_percentage numeric, duration_seconds integer, user_friendly_message text,
    display_priority integer, is_milestone boolean, technical_details jsonb, stack_trace text,
    performance_metrics jsonb, created_at timestamptz)
  on conflict (id, expires_on) do nothing
  returning l.seq;
end;
$$;

-- Direct writers (INSERT or COPY by service_role, loaders, tests) that leave workflow_id null.
create or replace function workflow_logs_private.set_log_workflow_id()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  select we.workflow_id into new.workflow_id
  from public.workflow_executions we
  where we.execution_id = new.execution_id;
  return new;
end;
$$;

comment on function workflow_logs_private.set_log_workflow_id() is 'BEFORE INSERT trigger of workflow_execution_logs: fills a null workflow_id from the row''s execution.';

drop trigger if exists workflow_execution_logs_set_workflow_id on public.workflow_execution_logs;
create trigger workflow_execution_logs_set_workflow_id
  before insert on public.workflow_execution_logs
  for each row
  when (new.workflow_id is null)
  execute function workflow_logs_private.set_log_workflow_id();

-- An execution moved to another workflow takes its logs along.
create or replace function workflow_logs_private.move_execution_logs()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  update public.workflow_execution_logs l
  set workflow_id = new.workflow_id
  where l.execution_id = new.execution_id and l.workflow_id is distinct from new.workflow_id;
  return null;
end;
$$;

comment on function workflow_logs_private.move_execution_logs() is 'AFTER UPDATE OF workflow_id trigger of workflow_executions: the execution''s logs follow it to its new workflow.';

drop trigger if exists workflow_executions_move_logs on public.workflow_executions;
create trigger workflow_executions_move_logs
  after update of workflow_id on public.workflow_executions
  for each row
  when (old.workflow_id is distinct from new.workflow_id)
  execute function workflow_logs_private.move_execution_logs();

-- =============================================================================================
-- Reader: the logs of a workflow matching the API's filters and a search
-- =============================================================================================
-- The workflow counterpart of matching_logs (same filters, same meaning of q), pure SQL so that it is
-- inlined and, in a custom plan, the absent filters fold away.
create or replace function workflow_logs_private.workflow_matching_logs(
  workflow_id uuid,
  after bigint default null,
  level public.log_level_enum default null,
  category text default null,
  event_type public.log_event_type_enum default null,
  node_id text default null,
  milestones_only boolean default false,
  min_priority integer default null,
  start_time timestamptz default null,
  end_time timestamptz default null,
  query tsquery default null
)
returns setof public.workflow_execution_logs
language sql
stable
as $$
  select l.*
  from public.workflow_execution_logs l
  where l.workflow_id = $1
    and ($2 is null or l.seq > $2)
    and ($3 is null or l.level = $3)
    and ($4 is null or l.log_category = $4)
    and ($5 is null or l.event_type = $5)
    and ($6 is null or l.node_id = $6)
    and (not $7 or l.is_milestone)
    and ($8 is null or l.display_priority >= $8)
    and ($9 is null or l.created_at >= $9)
    and ($10 is null or l.created_at <= $10)
    and ($11 is null or l.search_vector operator(pg_catalog.@@) $11)
$$;

comment on function workflow_logs_private.workflow_matching_logs(uuid, bigint, public.log_level_enum, text, public.log_event_type_enum, text, boolean, integer, timestamptz, timestamptz, tsquery) is 'The logs of a workflow (by the denormalised workflow_id) matching the API filters and a search: the filters of filtered_logs, q as in matching_logs. Inlined into each caller''s query.';

-- The page below reads one (workflow_id, seq) range; the per-execution candidate list of
-- 20251125000800 that the old page merged is no longer called by anything.
drop function if exists workflow_logs_private.workflow_candidates(
  uuid, bigint, public.log_level_enum, text, public.log_event_type_enum, text, boolean, integer, timestamptz, timestamptz);

-- One page of a workflow's logs (security definer reader, see assert_may_read_workflow).
-- seq order: the rows after the cursor by (workflow_id, seq), offset then limit + 1 (has_more).
-- rank order: every match of the workflow, ranked (offset paging).
create or replace function workflow_logs_private.workflow_logs_page(
  p_workflow_id uuid,
  p_limit integer,
  p_offset integer,
  p_after bigint,
  v_level public.log_level_enum,
  v_category text,
  v_event_type public.log_event_type_enum,
  p_node_id text,
  v_milestones boolean,
  p_min_priority integer,
  v_start timestamptz,
  v_end timestamptz,
  v_query tsquery,
  v_rank boolean,
  out logs json,
  out total_count bigint,
  out next_cursor bigint,
  out has_more boolean
)
language plpgsql
stable
security definer
set search_path = ''
set plan_cache_mode = force_custom_plan
set jit = off
as $$
declare
  v_last bigint;
begin
  perform workflow_logs_private.assert_may_read_workflow(p_workflow_id);

  -- total_count on the first page of a walk only (after absent): recounting on every cursor page would
  -- make reading a whole workflow quadratic. The filters the maintained counts know are summed there.
  if p_after is null then
    if v_query is null and p_node_id is null and v_start is null and v_end is null then
      -- One probe of the counts' primary key per execution (a join would rather scan the counts of
      -- every execution once the workflow has a few hundred runs).
      select coalesce(sum((
               select sum(c.log_count)
               from public.workflow_execution_log_counts c
               where c.execution_id = we.execution_id
                 and (v_level is null or c.level = v_level)
                 and (v_category is null or c.log_category = v_category)
                 and (v_event_type is null or c.event_type = v_event_type)
                 and (not v_milestones or c.is_milestone)
                 and (p_min_priority is null or c.display_priority >= p_min_priority))), 0)
        into total_count
      from public.workflow_executions we
      where we.workflow_id = p_workflow_id;
    else
      select count(*) into total_count
      from workflow_logs_private.workflow_matching_logs(p_workflow_id, null, v_level, v_category, v_event_type,
                                                        p_node_id, v_milestones, p_min_priority, v_start, v_end,
                                                        v_query);
    end if;
  end if;

  if v_rank then
    select coalesce(json_agg(workflow_logs_private.entry_json(p.r, v_query, true) order by p.n)
                      filter (where p.n <= p_limit), '[]'::json),
           count(*) > p_limit
      into logs, has_more
    from (
      select x.r, row_number() over (order by x.rank desc, (x.r).seq) as n
      from (
        select l as r, pg_catalog.ts_rank(l.search_vector, v_query) as rank
        from workflow_logs_private.workflow_matching_logs(p_workflow_id, null, v_level, v_category, v_event_type,
                                                          p_node_id, v_milestones, p_min_priority, v_start, v_end,
                                                          v_query) l
        order by 2 desc, l.seq
        limit p_limit + 1
        offset p_offset
      ) x
    ) p;
    next_cursor := null;
    return;
  end if;

  -- One row past the page tells has_more.
  select coalesce(json_agg(workflow_logs_private.entry_json(p.r, v_query, true) order by (p.r).seq)
                    filter (where p.n <= p_limit), '[]'::json),
         max((p.r).seq) filter (where p.n <= p_limit),
         count(*) > p_limit
    into logs, v_last, has_more
  from (
    select x.r, row_number() over (order by (x.r).seq) as n
    from (
      select l as r
      from workflow_logs_private.workflow_matching_logs(p_workflow_id, p_after, v_level, v_category, v_event_type,
                                                        p_node_id, v_milestones, p_min_priority, v_start, v_end,
                                                        v_query) l
      order by l.seq
      limit p_limit + 1
      offset p_offset
    ) x
  ) p;
  next_cursor := coalesce(v_last, p_after);
end;
$$;

comment on function workflow_logs_private.workflow_logs_page(uuid, integer, integer, bigint, public.log_level_enum, text, public.log_event_type_enum, text, boolean, integer, timestamptz, timestamptz, tsquery, boolean) is 'A page of the logs of every execution of a workflow (seq order by the (workflow_id, seq) index, or rank order), entries with execution_id. Security definer reader guarded by assert_may_read_workflow.';

-- =============================================================================================
-- Privileges
-- =============================================================================================
revoke all on function workflow_logs_private.insert_log_entries(jsonb) from public, anon, authenticated, service_role;
grant execute on function workflow_logs_private.insert_log_entries(jsonb) to service_role;
revoke all on function workflow_logs_private.backfill_log_workflow_ids() from public, anon, authenticated, service_role;
revoke all on function workflow_logs_private.set_log_workflow_id() from public, anon, authenticated, service_role;
revoke all on function workflow_logs_private.move_execution_logs() from public, anon, authenticated, service_role;
revoke all on function workflow_logs_private.workflow_matching_logs(uuid, bigint, public.log_level_enum, text, public.log_event_type_enum, text, boolean, integer, timestamptz, timestamptz, tsquery) from public, anon, authenticated, service_role;
grant execute on function workflow_logs_private.workflow_matching_logs(uuid, bigint, public.log_level_enum, text, public.log_event_type_enum, text, boolean, integer, timestamptz, timestamptz, tsquery) to authenticated, service_role;
