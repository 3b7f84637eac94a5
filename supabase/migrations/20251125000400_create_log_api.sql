-- The SQL API: what PostgREST exposes as RPC (supabase.rpc(...)) and what the bridge calls.
--
--   get_execution_logs(execution_id, limit, offset, level, start_time, end_time,
--                      after, category, node_id, event_type, milestones_only, min_priority)
--   get_execution_logs_summary(execution_id)
--   get_recent_logs(workflow_id, limit, include_all_executions)
--   append_execution_logs(logs)                       -- service_role only
--
-- Read functions are security invoker: they run as the caller, so RLS decides what exists. An
-- execution or workflow the caller cannot see raises P0002 exactly as one that does not exist.
-- Bad input raises 22023 (22007 for an unparseable time, 22001 for an oversized entry, 23503 for an
-- unknown execution) with a message that names the parameter.
--
-- The page reader sets plan_cache_mode = force_custom_plan: optional filters are written as
-- `(param is null or column = param)`, and only a plan made with the actual values folds the unused
-- ones away and picks the index that fits the filters used (re-planning costs ~0.1 ms; a generic
-- plan that scans the wrong index costs far more). Everything else keeps cached plans. jit is off for
-- the readers: a count over a big run once crossed jit_above_cost and paid ~220 ms of compilation.

-- =============================================================================================
-- Input parsing helpers (raise with the parameter's name)
-- =============================================================================================
create or replace function workflow_logs_private.parse_level(value text, param text)
returns public.log_level_enum
language plpgsql
immutable
set search_path = ''
as $$
begin
  if value is null then
    return null;
  end if;
  if upper(value) = any (enum_range(null::public.log_level_enum)::text[]) then
    return upper(value)::public.log_level_enum;
  end if;
  raise exception using
    errcode = '22023',
    message = format('%s must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (got %L)', param, value);
end;
$$;

create or replace function workflow_logs_private.parse_event_type(value text, param text)
returns public.log_event_type_enum
language plpgsql
immutable
set search_path = ''
as $$
begin
  if value is null then
    return null;
  end if;
  if lower(value) = any (enum_range(null::public.log_event_type_enum)::text[]) then
    return lower(value)::public.log_event_type_enum;
  end if;
  raise exception using
    errcode = '22023',
    message = format('%s must be one of %s (got %L)', param,
                     array_to_string(enum_range(null::public.log_event_type_enum)::text[], ', '), value);
end;
$$;

create or replace function workflow_logs_private.parse_category(value text, param text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
begin
  if value is null or lower(value) in ('business', 'technical') then
    return lower(value);
  end if;
  raise exception using
    errcode = '22023',
    message = format('%s must be business or technical (got %L)', param, value);
end;
$$;

create or replace function workflow_logs_private.parse_time(value text, param text)
returns timestamptz
language plpgsql
stable
set search_path = ''
as $$
begin
  if value is null then
    return null;
  end if;
  -- ISO 8601 only: Postgres would also take words such as 'yesterday', 'now' or 'epoch'.
  if value !~ '^\s*\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|z|[+-]\d{2}(:?\d{2})?)?\s*$' then
    raise exception using errcode = '22007', message = 'not ISO 8601';
  end if;
  return value::timestamptz;
exception
  when others then
    raise exception using
      errcode = '22007',
      message = format('%s must be an ISO 8601 timestamp such as 2025-01-10T00:00:00Z (got %L)', param, value);
end;
$$;

create or replace function workflow_logs_private.check_page(lim integer, off integer)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if lim is null or lim < 1 or lim > 1000 then
    raise exception using
      errcode = '22023',
      message = format('limit must be between 1 and 1000 (got %s)', coalesce(lim::text, 'null'));
  end if;
  if off is null or off < 0 then
    raise exception using
      errcode = '22023',
      message = format('offset must be 0 or more (got %s)', coalesce(off::text, 'null'));
  end if;
end;
$$;

-- =============================================================================================
-- Shared building blocks (pure SQL, no SET clause, so the planner inlines them)
-- =============================================================================================

-- One log row as the contract's LogEntry (seed-design 4.1): message is the user-friendly message
-- when there is one, level is lowercase, timestamps ISO 8601. Every key is always present; optional
-- ones are null when the row does not set them (as the design's own formatter emits node_name: null).
-- Built as `json`: a page of jsonb entries cost ~40% more to build and print.
create or replace function workflow_logs_private.log_entry(l public.workflow_execution_logs)
returns json
language sql
stable
as $$
  select json_build_object(
    'id', l.id,
    'seq', l.seq,
    'timestamp', l.created_at,
    'event_type', l.event_type,
    'message', coalesce(l.user_friendly_message, l.message),
    'level', lower(l.level::text),
    'data', coalesce(l.data, '{}'::jsonb),
    'log_category', l.log_category,
    'display_priority', l.display_priority,
    'is_milestone', l.is_milestone,
    'node_id', l.node_id,
    'node_name', l.node_name,
    'node_type', l.node_type,
    'step_number', l.step_number,
    'total_steps', l.total_steps,
    'progress_percentage', l.progress_percentage,
    'duration_seconds', l.duration_seconds,
    'technical_message', case when l.user_friendly_message is not null
                               and l.user_friendly_message <> l.message then l.message end,
    'stack_trace', l.stack_trace,
    'technical_details', coalesce(l.technical_details, '{}'::jsonb),
    'performance_metrics', coalesce(l.performance_metrics, '{}'::jsonb)
  )
$$;

comment on function workflow_logs_private.log_entry(public.workflow_execution_logs) is 'Formats a log row as the API''s LogEntry JSON. Inlined by the planner (hence no SET clause; every name is qualified).';

-- The logs of one execution that match the API's filters, under the caller's RLS. Every read path
-- (pages, counts, has_more, streams) goes through this one definition of what a filter means.
create or replace function workflow_logs_private.filtered_logs(
  execution_id text,
  after bigint default null,
  level public.log_level_enum default null,
  category text default null,
  event_type public.log_event_type_enum default null,
  node_id text default null,
  milestones_only boolean default false,
  min_priority integer default null,
  start_time timestamptz default null,
  end_time timestamptz default null
)
returns setof public.workflow_execution_logs
language sql
stable
as $$
  select l.*
  from public.workflow_execution_logs l
  where l.execution_id = $1
    and ($2 is null or l.seq > $2)
    and ($3 is null or l.level = $3)
    and ($4 is null or l.log_category = $4)
    and ($5 is null or l.event_type = $5)
    and ($6 is null or l.node_id = $6)
    and (not $7 or l.is_milestone)
    and ($8 is null or l.display_priority >= $8)
    and ($9 is null or l.created_at >= $9)
    and ($10 is null or l.created_at <= $10)
$$;

comment on function workflow_logs_private.filtered_logs(text, bigint, public.log_level_enum, text, public.log_event_type_enum, text, boolean, integer, timestamptz, timestamptz) is 'The logs of one execution matching the API filters, seen through the caller''s RLS. Inlined into each caller''s query.';

-- Raises P0002 unless the caller can see the execution (RLS on workflow_executions decides).
create or replace function workflow_logs_private.require_execution(execution_id text)
returns public.workflow_executions
language plpgsql
stable
set search_path = ''
as $$
declare
  found_execution public.workflow_executions;
begin
  if execution_id is null or execution_id = '' then
    raise exception using errcode = '22023', message = 'execution_id is required';
  end if;
  select we.* into found_execution
  from public.workflow_executions we
  where we.execution_id = require_execution.execution_id;
  if not found then
    raise exception using errcode = 'P0002', message = format('execution %s not found', execution_id);
  end if;
  return found_execution;
end;
$$;

-- The private readers below are security definer: they read one execution's rows without RLS. Why:
-- (1) enum equality (level, event_type) is not leakproof, so under RLS Postgres refuses to use it as
-- an index condition and a level=ERROR page walked ~10k rows instead of 100; (2) the logs policy's
-- ownership subquery would run again for every row. The public functions stay security invoker and
-- first ask RLS on workflow_executions whether the caller sees the execution (require_execution);
-- each reader then re-checks with the same ownership rule as the policies, so calling a reader
-- directly reveals nothing.
-- True when the caller's role is one RLS lets see everything (a superuser, or BYPASSRLS such as
-- service_role): the role set for the request, or the session's own when none is set.
create or replace function workflow_logs_private.caller_bypasses_rls()
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from pg_catalog.pg_roles r
    where r.rolname = coalesce(nullif(current_setting('role'), 'none'), session_user)
      and (r.rolsuper or r.rolbypassrls)
  )
$$;

create or replace function workflow_logs_private.assert_may_read(execution_id text)
returns void
language plpgsql
stable
security definer
set search_path = ''
set plan_cache_mode = auto
as $$
begin
  -- Roles that RLS lets see everything ...
  if workflow_logs_private.caller_bypasses_rls() then
    return;
  end if;
  -- ... and otherwise the owner, exactly as the RLS policies decide.
  if exists (
    select 1
    from public.workflow_executions we
    join public.workflows w on w.id = we.workflow_id
    where we.execution_id = assert_may_read.execution_id
      and w.user_id = (select auth.uid())
  ) then
    return;
  end if;
  raise exception using errcode = 'P0002', message = format('execution %s not found', execution_id);
end;
$$;

comment on function workflow_logs_private.assert_may_read(text) is 'Raises P0002 unless the caller may read the execution under the RLS rules (owner via workflows.user_id, or a role that bypasses RLS). Guards the security definer readers.';

-- =============================================================================================
-- get_execution_logs
-- =============================================================================================
-- The page itself: total_count, the rows (as a JSON array of LogEntry), the cursor and has_more.
-- Security definer (see assert_may_read). The only function that needs force_custom_plan: its filters
-- vary per call. The array is `json` (built from jsonb entries): aggregating into one big jsonb value and
-- printing it again cost twice as much as concatenating the entries' text.
create or replace function workflow_logs_private.execution_logs_page(
  p_execution_id text,
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
  v_after bigint := p_after;
  v_skip_to bigint;
  v_returned integer;
  v_last_seq bigint;
begin
  perform workflow_logs_private.assert_may_read(p_execution_id);

  -- total_count: from the maintained counts when the filters are ones they are keyed by (level,
  -- category, event type, milestones, priority); by node from the node table; otherwise (a time
  -- window, a node combined with other filters) an index scan of the matching rows.
  if v_start is null and v_end is null and p_node_id is null then
    select coalesce(sum(c.log_count), 0) into total_count
    from public.workflow_execution_log_counts c
    where c.execution_id = p_execution_id
      and (v_level is null or c.level = v_level)
      and (v_category is null or c.log_category = v_category)
      and (v_event_type is null or c.event_type = v_event_type)
      and (not v_milestones or c.is_milestone)
      and (p_min_priority is null or c.display_priority >= p_min_priority);
  elsif v_level is null and v_category is null and v_event_type is null and not v_milestones
        and p_min_priority is null and v_start is null and v_end is null then
    select coalesce(max(n.log_count), 0) into total_count
    from public.workflow_execution_nodes n
    where n.execution_id = p_execution_id and n.node_id = p_node_id;
  else
    select count(*) into total_count
    from workflow_logs_private.filtered_logs(p_execution_id, null, v_level, v_category, v_event_type,
                                             p_node_id, v_milestones, p_min_priority, v_start, v_end);
  end if;

  -- An offset is turned into a seq first: skipping N index entries (index-only where the filters
  -- allow) is far cheaper than building and sorting N rows.
  if p_offset > 0 then
    select l.seq into v_skip_to
    from workflow_logs_private.filtered_logs(p_execution_id, p_after, v_level, v_category, v_event_type,
                                             p_node_id, v_milestones, p_min_priority, v_start, v_end) l
    order by l.seq
    offset p_offset - 1
    limit 1;
    if v_skip_to is null then
      logs := '[]'::json;
      next_cursor := p_after;
      has_more := false;
      return;
    end if;
    v_after := v_skip_to;
  end if;

  -- One row past the page tells has_more without a second probe.
  select coalesce(json_agg(workflow_logs_private.log_entry(p.r) order by (p.r).seq)
                    filter (where p.n <= p_limit), '[]'::json),
         count(*) filter (where p.n <= p_limit),
         max((p.r).seq) filter (where p.n <= p_limit),
         count(*) > p_limit
    into logs, v_returned, v_last_seq, has_more
  from (
    select x.r, row_number() over (order by (x.r).seq) as n
    from (
      select l as r
      from workflow_logs_private.filtered_logs(p_execution_id, v_after, v_level, v_category, v_event_type,
                                               p_node_id, v_milestones, p_min_priority, v_start, v_end) l
      order by l.seq
      limit p_limit + 1
    ) x
  ) p;
  next_cursor := coalesce(v_last_seq, p_after);
end;
$$;

-- The logs after a cursor, unfiltered: a static query whose plan stays cached (no per-call planning),
-- plus the execution's total. Security definer reader (see workflow_logs_private.assert_may_read).
create or replace function workflow_logs_private.execution_events_after(
  execution_id text,
  after bigint,
  lim integer,
  out logs json,
  out next_cursor bigint,
  out has_more boolean,
  out total_count bigint,
  out last_seq bigint
)
language plpgsql
stable
security definer
set search_path = ''
set jit = off
as $$
declare
  v_last bigint;
begin
  perform workflow_logs_private.assert_may_read(execution_events_after.execution_id);
  select coalesce(json_agg(workflow_logs_private.log_entry(p.r) order by (p.r).seq)
                    filter (where p.n <= lim), '[]'::json),
         max((p.r).seq) filter (where p.n <= lim),
         count(*) > lim
    into logs, v_last, has_more
  from (
    select x.r, row_number() over (order by (x.r).seq) as n
    from (
      select l as r
      from public.workflow_execution_logs l
      where l.execution_id = execution_events_after.execution_id
        and l.seq > execution_events_after.after
      order by l.seq
      limit lim + 1
    ) x
  ) p;
  next_cursor := coalesce(v_last, after);
  select coalesce(sum(c.log_count), 0), max(c.last_seq) into total_count, last_seq
  from public.workflow_execution_log_counts c
  where c.execution_id = execution_events_after.execution_id;
end;
$$;

create or replace function public.get_execution_logs(
  execution_id text,
  "limit" integer default 100,
  "offset" integer default 0,
  level text default null,
  start_time text default null,
  end_time text default null,
  after bigint default null,
  category text default null,
  node_id text default null,
  event_type text default null,
  milestones_only boolean default false,
  min_priority integer default null
)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  p_execution_id alias for $1;
  p_limit alias for $2;
  p_offset alias for $3;
  p_after alias for $7;
  p_node_id alias for $9;
  p_min_priority alias for $12;
  v_level public.log_level_enum := workflow_logs_private.parse_level($4, 'level');
  v_start timestamptz := workflow_logs_private.parse_time($5, 'start_time');
  v_end timestamptz := workflow_logs_private.parse_time($6, 'end_time');
  v_category text := workflow_logs_private.parse_category($8, 'category');
  v_event_type public.log_event_type_enum := workflow_logs_private.parse_event_type($10, 'event_type');
  v_milestones boolean := coalesce($11, false);
  v_page record;
begin
  perform workflow_logs_private.check_page(p_limit, p_offset);
  if v_start > v_end then
    raise exception using
      errcode = '22023',
      message = format('start_time (%s) must not be after end_time (%s)', $5, $6);
  end if;
  if p_min_priority is not null and (p_min_priority < 1 or p_min_priority > 10) then
    raise exception using
      errcode = '22023',
      message = format('min_priority must be between 1 and 10 (got %s)', p_min_priority);
  end if;
  if p_after is not null and p_after < 0 then
    raise exception using errcode = '22023', message = format('after must be 0 or more (got %s)', p_after);
  end if;
  perform workflow_logs_private.require_execution(p_execution_id);

  if v_level is null and v_category is null and v_event_type is null and p_node_id is null and not v_milestones
     and p_min_priority is null and v_start is null and v_end is null and p_offset = 0 then
    -- The common case (a plain page or cursor page) takes the reader whose plan stays cached.
    select * into v_page
    from workflow_logs_private.execution_events_after(p_execution_id, coalesce(p_after, 0), p_limit);
    if p_after is null and v_page.next_cursor = 0 then
      v_page.next_cursor := null;
    end if;
  else
    select * into v_page
    from workflow_logs_private.execution_logs_page(
      p_execution_id, p_limit, p_offset, p_after, v_level, v_category, v_event_type,
      p_node_id, v_milestones, p_min_priority, v_start, v_end);
  end if;
  return json_build_object(
    'execution_id', p_execution_id,
    'logs', v_page.logs,
    'total_count', v_page.total_count,
    'pagination', json_build_object(
      'limit', p_limit,
      'offset', p_offset,
      'has_more', v_page.has_more,
      'next_cursor', v_page.next_cursor
    )
  );
end;
$$;

comment on function public.get_execution_logs(text, integer, integer, text, text, text, bigint, text, text, text, boolean, integer) is
'Logs of one execution as the contract''s LogsResponse: {execution_id, logs: LogEntry[], total_count, pagination: {limit, offset, has_more, next_cursor}}. '
'Pass pagination.next_cursor back as `after` to page at constant cost at any depth; offset pages still work. '
'Filters: level, start_time/end_time (ISO 8601), category (business|technical), node_id, event_type, milestones_only, min_priority (1..10). '
'total_count counts every log matching the filters (not only those after the cursor).';

-- =============================================================================================
-- get_execution_logs_summary
-- =============================================================================================
-- Security definer reader (see assert_may_read); the public wrapper follows.
create or replace function workflow_logs_private.execution_logs_summary(execution_id text, status text)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
set jit = off
as $$
declare
  p_execution_id alias for $1;
  v_counts jsonb;
  v_milestones jsonb;
  v_nodes jsonb;
begin
  perform workflow_logs_private.assert_may_read(p_execution_id);
  select jsonb_build_object(
           'total_logs', coalesce(sum(c.log_count), 0),
           'log_levels', coalesce((select jsonb_object_agg(lower(x.level::text), x.n)
                                   from (select c2.level, sum(c2.log_count) as n
                                         from public.workflow_execution_log_counts c2
                                         where c2.execution_id = p_execution_id
                                         group by c2.level order by c2.level) x), '{}'::jsonb),
           'event_types', coalesce((select jsonb_object_agg(x.event_type, x.n)
                                    from (select c2.event_type, sum(c2.log_count) as n
                                          from public.workflow_execution_log_counts c2
                                          where c2.execution_id = p_execution_id
                                          group by c2.event_type order by c2.event_type) x), '{}'::jsonb),
           'log_categories', coalesce((select jsonb_object_agg(x.log_category, x.n)
                                       from (select c2.log_category, sum(c2.log_count) as n
                                             from public.workflow_execution_log_counts c2
                                             where c2.execution_id = p_execution_id
                                             group by c2.log_category order by c2.log_category) x), '{}'::jsonb),
           'first_log', min(c.first_log_at),
           'last_log', max(c.last_log_at)
         )
    into v_counts
  from public.workflow_execution_log_counts c
  where c.execution_id = p_execution_id;

  -- The first 1,000 milestones in order: a run marks a handful; the cap bounds a pathological one.
  select coalesce(jsonb_agg(jsonb_build_object(
           'timestamp', (m.r).created_at,
           'message', coalesce((m.r).user_friendly_message, (m.r).message),
           'event_type', (m.r).event_type,
           'seq', (m.r).seq
         ) order by (m.r).seq), '[]'::jsonb)
    into v_milestones
  from (
    select l as r
    from workflow_logs_private.filtered_logs(p_execution_id, milestones_only => true) l
    order by l.seq
    limit 1000
  ) m;

  select coalesce(jsonb_object_agg(n.node_id, jsonb_strip_nulls(jsonb_build_object(
           'node_name', coalesce(n.node_name, n.node_id),
           'node_type', n.node_type,
           'logs_count', n.log_count,
           'step_number', n.step_number,
           'status', n.status,
           'duration_seconds', n.duration_seconds,
           'first_log', n.first_log_at,
           'last_log', n.last_log_at
         )) order by n.first_log_at, n.node_id), '{}'::jsonb)
    into v_nodes
  from public.workflow_execution_nodes n
  where n.execution_id = p_execution_id;

  return jsonb_build_object(
    'execution_id', p_execution_id,
    'status', status,
    'total_logs', v_counts -> 'total_logs',
    'log_levels', v_counts -> 'log_levels',
    'event_types', v_counts -> 'event_types',
    'log_categories', v_counts -> 'log_categories',
    'milestones', v_milestones,
    'nodes', v_nodes,
    'timeline', jsonb_build_object(
      'first_log', v_counts -> 'first_log',
      'last_log', v_counts -> 'last_log',
      'duration_estimate', extract(epoch from (v_counts ->> 'last_log')::timestamptz
                                              - (v_counts ->> 'first_log')::timestamptz)
    )
  );
end;
$$;

create or replace function public.get_execution_logs_summary(execution_id text)
returns jsonb
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_execution public.workflow_executions := workflow_logs_private.require_execution($1);
begin
  return workflow_logs_private.execution_logs_summary(v_execution.execution_id, v_execution.status);
end;
$$;

comment on function public.get_execution_logs_summary(text) is
'Summary of one execution as the contract''s LogsSummaryResponse: total_logs, log_levels, event_types, milestones, nodes (status from each node''s last step event), timeline. '
'Answered from the maintained counts and node tables, not by scanning the logs.';

-- An execution as the contract's latest_execution / ExecutionSummary object.
create or replace function workflow_logs_private.execution_entry(e public.workflow_executions)
returns jsonb
language sql
stable
as $$
  select jsonb_build_object(
      'execution_id', e.execution_id,
      'status', e.status,
      'start_time', e.start_time
    )
    || jsonb_strip_nulls(jsonb_build_object(
      'end_time', e.end_time,
      'duration', (e.end_time - e.start_time)::text,
      'error_message', e.error_message
    ))
$$;

-- The newest `limit` logs of one execution (oldest first) and its counts. Security definer reader
-- (see assert_may_read).
create or replace function workflow_logs_private.execution_recent_logs(execution_id text, lim integer)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
set jit = off
as $$
declare
  v_logs jsonb;
  v_summary jsonb;
begin
  perform workflow_logs_private.assert_may_read(execution_id);
  select coalesce(jsonb_agg(workflow_logs_private.log_entry(p.r) order by (p.r).seq), '[]'::jsonb)
    into v_logs
  from (
    select l as r
    from workflow_logs_private.filtered_logs(execution_recent_logs.execution_id) l
    order by l.seq desc
    limit lim
  ) p;

  select jsonb_build_object(
           'total_logs', coalesce(sum(c.log_count), 0),
           'error_count', coalesce(sum(c.log_count) filter (where c.level in ('ERROR', 'CRITICAL')), 0),
           'warning_count', coalesce(sum(c.log_count) filter (where c.level = 'WARNING'), 0),
           'milestone_count', coalesce(sum(c.log_count) filter (where c.is_milestone), 0)
         )
    into v_summary
  from public.workflow_execution_log_counts c
  where c.execution_id = execution_recent_logs.execution_id;

  return jsonb_build_object('logs', v_logs, 'summary', v_summary);
end;
$$;

-- =============================================================================================
-- get_recent_logs
-- =============================================================================================
create or replace function public.get_recent_logs(
  workflow_id text,
  "limit" integer default 100,
  include_all_executions boolean default false
)
returns jsonb
language plpgsql
stable
security invoker
set search_path = ''
set jit = off
set intervalstyle = 'iso_8601'
as $$
declare
  p_limit alias for $2;
  v_workflow_id uuid;
  v_latest public.workflow_executions;
  v_recent jsonb;
  v_result jsonb;
begin
  if $1 is null or $1 !~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$' then
    raise exception using
      errcode = '22023',
      message = format('workflow_id must be a UUID (got %L)', $1);
  end if;
  v_workflow_id := $1::uuid;
  perform workflow_logs_private.check_page(p_limit, 0);

  if not exists (select 1 from public.workflows w where w.id = v_workflow_id) then
    raise exception using errcode = 'P0002', message = format('workflow %s not found', $1);
  end if;

  select we.* into v_latest
  from public.workflow_executions we
  where we.workflow_id = v_workflow_id
  order by we.start_time desc, we.execution_id desc
  limit 1;

  if v_latest.execution_id is not null then
    v_recent := workflow_logs_private.execution_recent_logs(v_latest.execution_id, p_limit);
  else
    v_recent := jsonb_build_object(
      'logs', '[]'::jsonb,
      'summary', jsonb_build_object('total_logs', 0, 'error_count', 0, 'warning_count', 0, 'milestone_count', 0));
  end if;

  v_result := jsonb_build_object(
    'workflow_id', v_workflow_id,
    'latest_execution', case when v_latest.execution_id is null then null
                             else workflow_logs_private.execution_entry(v_latest) end,
    'logs', v_recent -> 'logs',
    'summary', v_recent -> 'summary'
  );

  if coalesce(include_all_executions, false) then
    v_result := v_result || jsonb_build_object(
      'other_executions', coalesce((
        select jsonb_agg(workflow_logs_private.execution_entry(o.e)
                         || jsonb_build_object('total_logs', coalesce(s.total_logs, 0),
                                               'error_count', coalesce(s.error_count, 0))
                         order by (o.e).start_time desc, (o.e).execution_id desc)
        from (
          select we as e
          from public.workflow_executions we
          where we.workflow_id = v_workflow_id and we.execution_id <> v_latest.execution_id
          order by we.start_time desc, we.execution_id desc
          limit 20
        ) o
        left join lateral (
          select sum(c.log_count) as total_logs,
                 sum(c.log_count) filter (where c.level in ('ERROR', 'CRITICAL')) as error_count
          from public.workflow_execution_log_counts c
          where c.execution_id = (o.e).execution_id
        ) s on true
      ), '[]'::jsonb),
      'total_executions', (select count(*) from public.workflow_executions we where we.workflow_id = v_workflow_id)
    );
  end if;

  return v_result;
end;
$$;

comment on function public.get_recent_logs(text, integer, boolean) is
'The latest execution of a workflow with its newest `limit` logs (oldest first) and counts, as the contract''s RecentLogsResponse. '
'With include_all_executions, also the 20 executions before it (other_executions) and total_executions. durations are ISO 8601 (PT1M23.5S).';

-- =============================================================================================
-- append_execution_logs (service_role only)
-- =============================================================================================

-- Why one entry of a batch is invalid, or null when it is fine. Used to name the entry when the set-
-- based insert fails, so the happy path pays for none of these checks.
create or replace function workflow_logs_private.log_entry_problem(entry jsonb)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  allowed constant text[] := array[
    'id', 'execution_id', 'log_category', 'event_type', 'level', 'message', 'data', 'node_id', 'node_name',
    'node_type', 'step_number', 'total_steps', 'progress_percentage', 'duration_seconds',
    'user_friendly_message', 'display_priority', 'is_milestone', 'technical_details', 'stack_trace',
    'performance_metrics', 'created_at'];
  k text;
  size bigint;
begin
  if jsonb_typeof(entry) is distinct from 'object' then
    return 'must be a JSON object';
  end if;
  select x into k from jsonb_object_keys(entry) x where x <> all (allowed) order by x limit 1;
  if k is not null then
    return format('unknown field %L', k);
  end if;
  if jsonb_typeof(entry -> 'execution_id') is distinct from 'string' or entry ->> 'execution_id' = '' then
    return 'execution_id is required (a string)';
  end if;
  if length(entry ->> 'execution_id') > 255 then
    return 'execution_id is longer than 255 characters';
  end if;
  if jsonb_typeof(entry -> 'message') is distinct from 'string' then
    return 'message is required (a string)';
  end if;
  if jsonb_typeof(entry -> 'event_type') is distinct from 'string' then
    return 'event_type is required (a string)';
  end if;
  begin
    perform workflow_logs_private.parse_event_type(entry ->> 'event_type', 'event_type');
    perform workflow_logs_private.parse_level(entry ->> 'level', 'level');
    perform workflow_logs_private.parse_category(entry ->> 'log_category', 'log_category');
    perform workflow_logs_private.parse_time(entry ->> 'created_at', 'created_at');
  exception
    when others then
      return sqlerrm;
  end;
  if entry ? 'id' and jsonb_typeof(entry -> 'id') <> 'null'
     and (entry ->> 'id') !~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$' then
    return format('id must be a UUID (got %s)', entry -> 'id');
  end if;
  foreach k in array array['step_number', 'total_steps', 'duration_seconds', 'display_priority'] loop
    if jsonb_typeof(entry -> k) not in ('number', 'null') or (entry ->> k)::numeric <> trunc((entry ->> k)::numeric) then
      return format('%s must be an integer (got %s)', k, entry -> k);
    end if;
  end loop;
  if (entry ->> 'display_priority')::numeric not between 1 and 10 then
    return format('display_priority must be between 1 and 10 (got %s)', entry -> 'display_priority');
  end if;
  if (entry ->> 'step_number')::numeric < 0 or (entry ->> 'total_steps')::numeric < 0
     or (entry ->> 'duration_seconds')::numeric < 0 then
    return 'step_number, total_steps and duration_seconds must not be negative';
  end if;
  if jsonb_typeof(entry -> 'progress_percentage') not in ('number', 'null')
     or (entry ->> 'progress_percentage')::numeric not between 0 and 100 then
    return format('progress_percentage must be a number between 0 and 100 (got %s)', entry -> 'progress_percentage');
  end if;
  if jsonb_typeof(entry -> 'is_milestone') not in ('boolean', 'null') then
    return format('is_milestone must be true or false (got %s)', entry -> 'is_milestone');
  end if;
  foreach k in array array['data', 'technical_details', 'performance_metrics'] loop
    if jsonb_typeof(entry -> k) not in ('object', 'null') then
      return format('%s must be a JSON object (got %s)', k, jsonb_typeof(entry -> k));
    end if;
  end loop;
  foreach k in array array['node_id', 'node_name', 'node_type', 'user_friendly_message', 'stack_trace'] loop
    if jsonb_typeof(entry -> k) not in ('string', 'null') then
      return format('%s must be a string (got %s)', k, jsonb_typeof(entry -> k));
    end if;
  end loop;
  if length(entry ->> 'node_id') > 255 or length(entry ->> 'node_name') > 255 or length(entry ->> 'node_type') > 100 then
    return 'node_id and node_name are limited to 255 characters, node_type to 100';
  end if;
  size := octet_length(entry ->> 'message')
          + coalesce(octet_length(entry ->> 'user_friendly_message'), 0)
          + coalesce(octet_length(entry ->> 'stack_trace'), 0)
          -- absent or null JSON fields are stored as '{}' and counted as the table's check counts them
          + pg_column_size(coalesce(nullif(entry -> 'data', 'null'::jsonb), '{}'::jsonb))
          + pg_column_size(coalesce(nullif(entry -> 'technical_details', 'null'::jsonb), '{}'::jsonb))
          + pg_column_size(coalesce(nullif(entry -> 'performance_metrics', 'null'::jsonb), '{}'::jsonb));
  if size > 10240 then
    return format('entry is %s bytes; the limit is 10240 bytes (10 KB) over message, user_friendly_message, stack_trace, data, technical_details and performance_metrics', size);
  end if;
  return null;
end;
$$;

-- The set-based insert of a batch; returns the seq of each row that was new. plpgsql so the insert's
-- plan stays cached per session (a `language sql` function is planned again on every call).
create or replace function workflow_logs_private.insert_log_entries(logs jsonb)
returns setof bigint
language plpgsql
volatile
set search_path = ''
as $$
begin
  return query
  insert into public.workflow_execution_logs as l (
    id, execution_id, log_category, event_type, level, message, data, node_id, node_name, node_type,
    step_number, total_steps, progress_percentage, duration_seconds, user_friendly_message,
    display_priority, is_milestone, technical_details, stack_trace, performance_metrics, created_at)
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
         coalesce(r.created_at, now())
  from jsonb_to_recordset(logs) as r(
    id uuid, execution_id text, log_category text, event_type text, level text, message text, data jsonb,
    node_id text, node_name text, node_type text, step_number integer, total_steps integer,
    progress_percentage numeric, duration_seconds integer, user_friendly_message text,
    display_priority integer, is_milestone boolean, technical_details jsonb, stack_trace text,
    performance_metrics jsonb, created_at timestamptz)
  on conflict (id) do nothing
  returning l.seq;
end;
$$;

create or replace function public.append_execution_logs(logs jsonb)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_count integer;
  v_ids text[];
  v_id text;
  v_missing text;
  v_inserted bigint;
  v_last_seq bigint;
  v_problem text;
  v_index integer;
  v_entry jsonb;
  v_state text;
  v_message text;
  c_fields constant text[] := array[
    'id', 'execution_id', 'log_category', 'event_type', 'level', 'message', 'data', 'node_id', 'node_name',
    'node_type', 'step_number', 'total_steps', 'progress_percentage', 'duration_seconds',
    'user_friendly_message', 'display_priority', 'is_milestone', 'technical_details', 'stack_trace',
    'performance_metrics', 'created_at'];
begin
  if logs is null or jsonb_typeof(logs) <> 'array' then
    raise exception using errcode = '22023', message = 'logs must be a JSON array of log entries';
  end if;
  v_count := jsonb_array_length(logs);
  if v_count = 0 then
    return jsonb_build_object('inserted', 0, 'duplicates', 0, 'last_seq', null);
  end if;
  if v_count > 5000 then
    raise exception using
      errcode = '22023',
      message = format('logs holds %s entries; one call accepts at most 5000', v_count);
  end if;

  -- Shape checks in one set-based pass, before anything is written: an entry that is not an object,
  -- names a field we do not know (jsonb_to_recordset would silently drop it), or gives a field a JSON
  -- type the insert would coerce ("yes" -> true, 7.5 -> 8, 12 -> '12'); the same pass collects the
  -- executions written to. (Direct `->` lookups: extracting every field through a jsonb record was 4x
  -- slower.) Values (enums, ranges, size) are checked by the insert and the table's constraints, and
  -- only diagnosed when the insert fails.
  select min(e.ord) filter (where
           jsonb_typeof(e.v) <> 'object'
           or (e.v - c_fields) <> '{}'::jsonb
           or jsonb_typeof(e.v -> 'execution_id') is distinct from 'string'
           or jsonb_typeof(e.v -> 'message') is distinct from 'string'
           or jsonb_typeof(e.v -> 'event_type') is distinct from 'string'
           or jsonb_typeof(e.v -> 'level') not in ('string', 'null')
           or jsonb_typeof(e.v -> 'log_category') not in ('string', 'null')
           or jsonb_typeof(e.v -> 'id') not in ('string', 'null')
           or jsonb_typeof(e.v -> 'created_at') not in ('string', 'null')
           or jsonb_typeof(e.v -> 'node_id') not in ('string', 'null')
           or jsonb_typeof(e.v -> 'node_name') not in ('string', 'null')
           or jsonb_typeof(e.v -> 'node_type') not in ('string', 'null')
           or jsonb_typeof(e.v -> 'user_friendly_message') not in ('string', 'null')
           or jsonb_typeof(e.v -> 'stack_trace') not in ('string', 'null')
           or jsonb_typeof(e.v -> 'is_milestone') not in ('boolean', 'null')
           or jsonb_typeof(e.v -> 'progress_percentage') not in ('number', 'null')
           or jsonb_typeof(e.v -> 'step_number') not in ('number', 'null')
           or jsonb_typeof(e.v -> 'total_steps') not in ('number', 'null')
           or jsonb_typeof(e.v -> 'duration_seconds') not in ('number', 'null')
           or jsonb_typeof(e.v -> 'display_priority') not in ('number', 'null')
           or (e.v ->> 'step_number') like '%.%' or (e.v ->> 'total_steps') like '%.%'
           or (e.v ->> 'duration_seconds') like '%.%' or (e.v ->> 'display_priority') like '%.%'
           or jsonb_typeof(e.v -> 'data') not in ('object', 'null')
           or jsonb_typeof(e.v -> 'technical_details') not in ('object', 'null')
           or jsonb_typeof(e.v -> 'performance_metrics') not in ('object', 'null')),
         array_agg(distinct e.v ->> 'execution_id' order by e.v ->> 'execution_id')
    into v_index, v_ids
  from jsonb_array_elements(logs) with ordinality e(v, ord);
  if v_index is not null then
    raise exception using
      errcode = '22023',
      message = format('logs[%s]: %s', v_index - 1,
                       coalesce(workflow_logs_private.log_entry_problem(logs -> (v_index - 1)::integer),
                                'a field has the wrong JSON type'));
  end if;

  select u into v_missing
  from unnest(v_ids) u
  where not exists (select 1 from public.workflow_executions we where we.execution_id = u)
  order by u
  limit 1;
  if v_missing is not null then
    raise exception using
      errcode = '23503',
      message = format('logs: execution %s does not exist; create the workflow_executions row first', v_missing);
  end if;

  -- One writer per execution at a time, in a fixed order (no deadlocks): seq is then allocated in
  -- commit order within an execution, so a reader's `seq > cursor` never skips a late commit.
  foreach v_id in array v_ids loop
    perform pg_advisory_xact_lock(hashtextextended('workflow_execution_logs:' || v_id, 0));
  end loop;

  begin
    select count(*), max(s) into v_inserted, v_last_seq
    from workflow_logs_private.insert_log_entries(logs) s;
  exception
    when data_exception or integrity_constraint_violation then
      get stacked diagnostics v_state = returned_sqlstate, v_message = message_text;
      for v_index, v_entry in
        select e.ord - 1, e.v from jsonb_array_elements(logs) with ordinality e(v, ord) order by e.ord
      loop
        v_problem := workflow_logs_private.log_entry_problem(v_entry);
        if v_problem is not null then
          raise exception using
            errcode = case when v_problem like 'entry is % bytes%' then '22001' else '22023' end,
            message = format('logs[%s]: %s', v_index, v_problem);
        end if;
      end loop;
      raise exception using errcode = v_state, message = format('logs: %s', v_message);
  end;

  if v_inserted < v_count then
    select greatest(v_last_seq, max(l.seq)) into v_last_seq
    from public.workflow_execution_logs l
    where l.id in (
      select (e ->> 'id')::uuid from jsonb_array_elements(logs) e where e ? 'id' and jsonb_typeof(e -> 'id') = 'string'
    );
  end if;

  return jsonb_build_object(
    'inserted', v_inserted,
    'duplicates', v_count - v_inserted,
    'last_seq', v_last_seq
  );
end;
$$;

comment on function public.append_execution_logs(jsonb) is
'Appends a batch (JSON array, at most 5000 entries) of log entries for service callers. All or nothing; idempotent on the entries'' `id` (a retried batch inserts nothing twice). '
'Returns {inserted, duplicates, last_seq}. An invalid entry raises 22023 (22001 when over 10 KB) naming logs[i] and the field; an unknown execution raises 23503.';

-- =============================================================================================
-- Privileges: the API roles call the public functions; helpers are reachable only through them
-- =============================================================================================
revoke all on function public.get_execution_logs(text, integer, integer, text, text, text, bigint, text, text, text, boolean, integer) from public, anon, authenticated, service_role;
revoke all on function public.get_execution_logs_summary(text) from public, anon, authenticated, service_role;
revoke all on function public.get_recent_logs(text, integer, boolean) from public, anon, authenticated, service_role;
revoke all on function public.append_execution_logs(jsonb) from public, anon, authenticated, service_role;

grant execute on function public.get_execution_logs(text, integer, integer, text, text, text, bigint, text, text, text, boolean, integer) to authenticated, service_role;
grant execute on function public.get_execution_logs_summary(text) to authenticated, service_role;
grant execute on function public.get_recent_logs(text, integer, boolean) to authenticated, service_role;
grant execute on function public.append_execution_logs(jsonb) to service_role;

do $$
declare
  fn regprocedure;
begin
  for fn in
    select p.oid::regprocedure
    from pg_proc p
    where p.pronamespace = 'workflow_logs_private'::regnamespace
      and p.prorettype <> 'trigger'::regtype
  loop
    execute format('revoke all on function %s from public, anon, authenticated, service_role', fn);
    if fn::text like 'workflow_logs_private.insert_log_entries(%' then
      execute format('grant execute on function %s to service_role', fn);
    elsif fn::text not like 'workflow_logs_private.refresh_execution_stats(%' then
      execute format('grant execute on function %s to authenticated, service_role', fn);
    end if;
  end loop;
end
$$;
