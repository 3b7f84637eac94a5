-- Full-text search, logs across the executions of a workflow, and per-workflow statistics.
--
--   get_execution_logs(..., q, "order")               -- the page reader, now with search
--   get_workflow_logs(workflow_id, limit, offset, level, start_time, end_time, after, category,
--                     node_id, event_type, milestones_only, min_priority, q, "order")
--   get_workflow_stats(workflow_id, since, until, top)
--
-- Search: `q` is read with websearch_to_tsquery('simple', q) ("quoted phrases", `or`, `-word`) and
-- matched against message and user_friendly_message through a stored generated tsvector column with a
-- GIN index. The 'simple' configuration: log text is identifiers, error codes and any language; English
-- stemming and stop words would drop exactly the words that matter in a log ("not", "no", "off").
-- A blank q is no filter; a q without a single word to search for raises 22023. Results come in seq
-- order (cursor paging as before) or, with "order" => 'rank', by ts_rank (offset paging). Each returned
-- entry of a search carries `highlight`: {message, technical_message}, HTML-escaped text with the
-- matches in <mark>...</mark>, built by ts_headline for the returned rows only.
--
-- Workflow logs join through workflow_executions (logs carry only execution_id): the page is a merge by
-- seq of the executions' (execution_id, seq) index ranges, pruned first by the maintained counts, so a
-- page costs about one index probe per execution with matching logs after the cursor plus the rows it
-- returns, not a scan of the workflow's logs. Nothing here needs a unique index: everything works on the
-- plain table and on one partitioned by created_at.
--
-- Access: the public functions are security invoker; RLS on workflows decides whether the caller sees
-- the workflow (P0002 exactly as for one that does not exist). The readers are security definer (enum
-- equality is not leakproof, see 20251125000400) and re-check ownership (assert_may_read_workflow).

-- =============================================================================================
-- Search column and index
-- =============================================================================================
alter table public.workflow_execution_logs
  add column if not exists search_vector tsvector
  generated always as (
    to_tsvector('simple'::regconfig, message)
    || to_tsvector('simple'::regconfig, coalesce(user_friendly_message, ''))
  ) stored;

comment on column public.workflow_execution_logs.search_vector is 'Words of message and user_friendly_message (text search configuration ''simple''), for the q parameter of the readers. Generated; never written.';

-- q on one execution or on a workflow. Created on the parent, so it also covers a partitioned table.
create index if not exists workflow_execution_logs_search_vector_idx
  on public.workflow_execution_logs using gin (search_vector);

-- =============================================================================================
-- Input parsing
-- =============================================================================================
create or replace function workflow_logs_private.parse_query(value text, param text)
returns tsquery
language plpgsql
immutable
set search_path = ''
set client_min_messages = warning
as $$
declare
  parsed tsquery;
begin
  if value is null or btrim(value) = '' then
    return null;
  end if;
  if length(value) > 1000 then
    raise exception using
      errcode = '22023',
      message = format('%s must be at most 1000 characters (got %s)', param, length(value));
  end if;
  parsed := pg_catalog.websearch_to_tsquery('pg_catalog.simple'::pg_catalog.regconfig, value);
  if pg_catalog.numnode(parsed) = 0 then
    raise exception using
      errcode = '22023',
      message = format('%s has no words to search for (got %L)', param, value);
  end if;
  return parsed;
end;
$$;

comment on function workflow_logs_private.parse_query(text, text) is 'The tsquery of a q parameter (websearch syntax, configuration simple); null when q is null or blank; 22023 when it holds no word or is over 1000 characters.';

create or replace function workflow_logs_private.parse_order(value text, has_query boolean)
returns boolean
language plpgsql
immutable
set search_path = ''
as $$
begin
  if value is null or lower(value) = 'seq' then
    return false;
  end if;
  if lower(value) <> 'rank' then
    raise exception using errcode = '22023', message = format('order must be seq or rank (got %L)', value);
  end if;
  if not has_query then
    raise exception using errcode = '22023', message = 'order rank needs q (a search to rank by)';
  end if;
  return true;
end;
$$;

comment on function workflow_logs_private.parse_order(text, boolean) is 'True for order = rank (which needs a q), false for seq or null; 22023 otherwise.';

-- =============================================================================================
-- Building blocks (pure SQL, no SET clause: inlined by the planner)
-- =============================================================================================

-- The logs of one execution matching the API's filters and a search. The one definition of what q means.
create or replace function workflow_logs_private.matching_logs(
  execution_id text,
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
  from workflow_logs_private.filtered_logs($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) l
  where ($11 is null or l.search_vector operator(pg_catalog.@@) $11)
$$;

comment on function workflow_logs_private.matching_logs(text, bigint, public.log_level_enum, text, public.log_event_type_enum, text, boolean, integer, timestamptz, timestamptz, tsquery) is 'filtered_logs plus the search (search_vector @@ query). Inlined into each caller''s query.';

-- A text with the words of `query` marked, safe to insert as HTML: ts_headline marks the matches with
-- control characters, the text is escaped, then the marks become <mark> and </mark>. < and > are swapped
-- for control characters before ts_headline, whose parser would otherwise drop anything tag-like
-- ("expected <int>"). An excerpt of about 35 words around the best match for long texts.
create or replace function workflow_logs_private.headline(document text, query tsquery)
returns text
language sql
immutable
parallel safe
as $$
  select pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
           pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
             pg_catalog.ts_headline('pg_catalog.simple'::pg_catalog.regconfig,
                                    pg_catalog.translate(document, E'<>\x01\x02\x03\x04', E'\x03\x04'),
                                    query,
                                    E'StartSel="\x01", StopSel="\x02"'),
             '&', '&amp;'), '"', '&quot;'), '''', '&#39;'),
           E'\x03', '&lt;'), E'\x04', '&gt;'), E'\x01', '<mark>'), E'\x02', '</mark>')
$$;

comment on function workflow_logs_private.headline(text, tsquery) is 'HTML-escaped text (or an excerpt of it) with the matches of query in <mark>...</mark>.';

-- A returned log as LogEntry, with `execution_id` for cross-execution pages and `highlight` for searches.
-- Without either it is exactly log_entry(l).
create or replace function workflow_logs_private.entry_json(
  l public.workflow_execution_logs,
  query tsquery,
  with_execution boolean
)
returns json
language sql
stable
as $$
  select case
    when query is null and not with_execution then workflow_logs_private.log_entry(l)
    else (
      workflow_logs_private.log_entry(l)::jsonb
      || case when with_execution then pg_catalog.jsonb_build_object('execution_id', l.execution_id)
              else '{}'::jsonb end
      || case when query is null then '{}'::jsonb
              else pg_catalog.jsonb_build_object('highlight', pg_catalog.jsonb_build_object(
                'message', workflow_logs_private.headline(coalesce(l.user_friendly_message, l.message), query),
                'technical_message', case when l.user_friendly_message is not null
                                           and l.user_friendly_message <> l.message
                                          then workflow_logs_private.headline(l.message, query) end))
         end
    )::json
  end
$$;

comment on function workflow_logs_private.entry_json(public.workflow_execution_logs, tsquery, boolean) is 'log_entry(l), plus execution_id (cross-execution pages) and highlight {message, technical_message} (searches).';

-- =============================================================================================
-- Access to a workflow
-- =============================================================================================

-- The workflow's id; 22023 unless a UUID, P0002 unless the caller sees it (RLS on workflows decides).
create or replace function workflow_logs_private.require_workflow(workflow_id text)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  v_id uuid;
begin
  if workflow_id is null or workflow_id !~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$' then
    raise exception using errcode = '22023', message = format('workflow_id must be a UUID (got %L)', workflow_id);
  end if;
  v_id := workflow_id::uuid;
  if not exists (select 1 from public.workflows w where w.id = v_id) then
    raise exception using errcode = 'P0002', message = format('workflow %s not found', workflow_id);
  end if;
  return v_id;
end;
$$;

comment on function workflow_logs_private.require_workflow(text) is 'Parses a workflow id (22023) and raises P0002 unless the caller sees the workflow under RLS.';

create or replace function workflow_logs_private.assert_may_read_workflow(workflow_id uuid)
returns void
language plpgsql
stable
security definer
set search_path = ''
set plan_cache_mode = auto
as $$
begin
  if workflow_logs_private.caller_bypasses_rls() then
    return;
  end if;
  if exists (
    select 1 from public.workflows w
    where w.id = assert_may_read_workflow.workflow_id and w.user_id = (select auth.uid())
  ) then
    return;
  end if;
  raise exception using errcode = 'P0002', message = format('workflow %s not found', workflow_id);
end;
$$;

comment on function workflow_logs_private.assert_may_read_workflow(uuid) is 'Raises P0002 unless the caller may read the workflow under the RLS rules (owner via workflows.user_id, or a role that bypasses RLS). Guards the security definer workflow readers.';

-- =============================================================================================
-- Search page of one execution (security definer reader, see assert_may_read)
-- =============================================================================================
create or replace function workflow_logs_private.execution_search_page(
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
  v_returned integer;
  v_last_seq bigint;
begin
  perform workflow_logs_private.assert_may_read(p_execution_id);

  select count(*) into total_count
  from workflow_logs_private.matching_logs(p_execution_id, null, v_level, v_category, v_event_type, p_node_id,
                                           v_milestones, p_min_priority, v_start, v_end, v_query);

  if v_rank then
    -- Best first (ties in log order), paged by offset: a rank is not a cursor.
    select coalesce(json_agg(workflow_logs_private.entry_json(p.r, v_query, false) order by p.n)
                      filter (where p.n <= p_limit), '[]'::json),
           count(*) > p_limit
      into logs, has_more
    from (
      select x.r, row_number() over (order by x.rank desc, (x.r).seq) as n
      from (
        select l as r, pg_catalog.ts_rank(l.search_vector, v_query) as rank
        from workflow_logs_private.matching_logs(p_execution_id, null, v_level, v_category, v_event_type, p_node_id,
                                                 v_milestones, p_min_priority, v_start, v_end, v_query) l
        order by 2 desc, l.seq
        limit p_limit + 1
        offset p_offset
      ) x
    ) p;
    next_cursor := null;
    return;
  end if;

  select coalesce(json_agg(workflow_logs_private.entry_json(p.r, v_query, false) order by (p.r).seq)
                    filter (where p.n <= p_limit), '[]'::json),
         count(*) filter (where p.n <= p_limit),
         max((p.r).seq) filter (where p.n <= p_limit),
         count(*) > p_limit
    into logs, v_returned, v_last_seq, has_more
  from (
    select x.r, row_number() over (order by (x.r).seq) as n
    from (
      select l as r
      from workflow_logs_private.matching_logs(p_execution_id, p_after, v_level, v_category, v_event_type, p_node_id,
                                               v_milestones, p_min_priority, v_start, v_end, v_query) l
      order by l.seq
      limit p_limit + 1
      offset p_offset
    ) x
  ) p;
  next_cursor := coalesce(v_last_seq, p_after);
end;
$$;

comment on function workflow_logs_private.execution_search_page(text, integer, integer, bigint, public.log_level_enum, text, public.log_event_type_enum, text, boolean, integer, timestamptz, timestamptz, tsquery, boolean) is 'A page of one execution''s logs matching a search, in seq or rank order, with highlights. Security definer reader guarded by assert_may_read.';

-- =============================================================================================
-- get_execution_logs, now with q and "order"
-- =============================================================================================
-- A new trailing pair of parameters with defaults: every existing call (positional or named, RPC or
-- SQL) means what it meant. The old signature is dropped so that a call cannot be ambiguous.
drop function if exists public.get_execution_logs(text, integer, integer, text, text, text, bigint, text, text, text, boolean, integer);

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
  min_priority integer default null,
  q text default null,
  "order" text default 'seq'
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
  v_query tsquery := workflow_logs_private.parse_query($13, 'q');
  v_rank boolean := workflow_logs_private.parse_order($14, v_query is not null);
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
  if v_rank and p_after is not null then
    raise exception using errcode = '22023', message = 'after cannot be combined with order rank; page ranked results with offset';
  end if;
  perform workflow_logs_private.require_execution(p_execution_id);

  if v_query is not null then
    select * into v_page
    from workflow_logs_private.execution_search_page(
      p_execution_id, p_limit, p_offset, p_after, v_level, v_category, v_event_type,
      p_node_id, v_milestones, p_min_priority, v_start, v_end, v_query, v_rank);
  elsif v_level is null and v_category is null and v_event_type is null and p_node_id is null and not v_milestones
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

comment on function public.get_execution_logs(text, integer, integer, text, text, text, bigint, text, text, text, boolean, integer, text, text) is
'Logs of one execution as the contract''s LogsResponse: {execution_id, logs: LogEntry[], total_count, pagination: {limit, offset, has_more, next_cursor}}. '
'Pass pagination.next_cursor back as `after` to page at constant cost at any depth; offset pages still work. '
'Filters: level, start_time/end_time (ISO 8601), category (business|technical), node_id, event_type, milestones_only, min_priority (1..10), '
'q (full-text search of message and user_friendly_message, websearch syntax: words, "a phrase", or, -word). '
'With q every entry carries highlight {message, technical_message} (HTML-escaped, matches in <mark>...</mark>), and "order" may be rank (best match first, offset paging; next_cursor is null) instead of seq. '
'total_count counts every log matching the filters (not only those after the cursor).';

-- =============================================================================================
-- get_workflow_logs
-- =============================================================================================

-- The executions of a workflow that may hold logs matching the filters after a cursor, decided from the
-- maintained counts (and the node table for node_id) without touching the logs.
create or replace function workflow_logs_private.workflow_candidates(
  workflow_id uuid,
  after bigint,
  level public.log_level_enum,
  category text,
  event_type public.log_event_type_enum,
  node_id text,
  milestones_only boolean,
  min_priority integer,
  start_time timestamptz,
  end_time timestamptz
)
returns setof text
language sql
stable
as $$
  select we.execution_id::text
  from public.workflow_executions we
  where we.workflow_id = $1
    and exists (
      select 1
      from public.workflow_execution_log_counts c
      where c.execution_id = we.execution_id
        and ($2 is null or c.last_seq > $2)
        and ($3 is null or c.level = $3)
        and ($4 is null or c.log_category = $4)
        and ($5 is null or c.event_type = $5)
        and (not $7 or c.is_milestone)
        and ($8 is null or c.display_priority >= $8)
        and ($9 is null or c.last_log_at >= $9)
        and ($10 is null or c.first_log_at <= $10)
    )
    and ($6 is null or exists (
      select 1 from public.workflow_execution_nodes n
      where n.execution_id = we.execution_id and n.node_id = $6
    ))
$$;

comment on function workflow_logs_private.workflow_candidates(uuid, bigint, public.log_level_enum, text, public.log_event_type_enum, text, boolean, integer, timestamptz, timestamptz) is 'Executions of a workflow whose maintained counts say they may hold logs matching the filters after the cursor. Inlined.';

-- One page of a workflow's logs (security definer reader, see assert_may_read_workflow).
--
-- seq order: the page is the first offset+limit+1 matching rows after the cursor over all the
-- workflow's executions. Executions are visited in the order of their first matching seq; each gives at
-- most that many seqs no greater than the current bound (the (offset+limit+1)-th smallest seq found so
-- far), and the visit stops at the first execution that starts past the bound. Runs that follow each
-- other cost one or two visits; runs that overlap cost one bounded index range each.
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
  v_k integer := p_offset + p_limit + 1;
  v_ids text[];
  v_firsts bigint[];
  v_e text[] := '{}';
  v_s bigint[] := '{}';
  v_ne text[];
  v_ns bigint[];
  v_bound bigint;
  v_last bigint;
  i integer;
begin
  perform workflow_logs_private.assert_may_read_workflow(p_workflow_id);

  -- total_count on the first page of a walk only (after absent): recounting on every cursor page would
  -- make reading a whole workflow quadratic.
  if p_after is null then
    if v_query is null and p_node_id is null and v_start is null and v_end is null then
      select coalesce(sum(c.log_count), 0) into total_count
      from public.workflow_executions we
      join public.workflow_execution_log_counts c on c.execution_id = we.execution_id
      where we.workflow_id = p_workflow_id
        and (v_level is null or c.level = v_level)
        and (v_category is null or c.log_category = v_category)
        and (v_event_type is null or c.event_type = v_event_type)
        and (not v_milestones or c.is_milestone)
        and (p_min_priority is null or c.display_priority >= p_min_priority);
    else
      select count(*) into total_count
      from workflow_logs_private.workflow_candidates(p_workflow_id, null, v_level, v_category, v_event_type, p_node_id,
                                                     v_milestones, p_min_priority, v_start, v_end) e(id)
      cross join lateral workflow_logs_private.matching_logs(e.id, null, v_level, v_category, v_event_type, p_node_id,
                                                             v_milestones, p_min_priority, v_start, v_end, v_query) l;
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
        from workflow_logs_private.workflow_candidates(p_workflow_id, null, v_level, v_category, v_event_type, p_node_id,
                                                       v_milestones, p_min_priority, v_start, v_end) e(id)
        cross join lateral workflow_logs_private.matching_logs(e.id, null, v_level, v_category, v_event_type, p_node_id,
                                                               v_milestones, p_min_priority, v_start, v_end, v_query) l
        order by 2 desc, l.seq
        limit p_limit + 1
        offset p_offset
      ) x
    ) p;
    next_cursor := null;
    return;
  end if;

  -- Each candidate execution with its first matching seq after the cursor (one index probe each).
  select array_agg(f.id order by f.first_seq), array_agg(f.first_seq order by f.first_seq)
    into v_ids, v_firsts
  from (
    select e.id,
           (select l.seq
            from workflow_logs_private.matching_logs(e.id, p_after, v_level, v_category, v_event_type, p_node_id,
                                                     v_milestones, p_min_priority, v_start, v_end, v_query) l
            order by l.seq
            limit 1) as first_seq
    from workflow_logs_private.workflow_candidates(p_workflow_id, p_after, v_level, v_category, v_event_type, p_node_id,
                                                   v_milestones, p_min_priority, v_start, v_end) e(id)
  ) f
  where f.first_seq is not null;

  -- The merge: keep the v_k smallest (execution_id, seq) pairs seen so far.
  for i in 1 .. coalesce(cardinality(v_ids), 0) loop
    exit when v_bound is not null and v_firsts[i] > v_bound;
    select array_agg(m.execution_id order by m.seq), array_agg(m.seq order by m.seq)
      into v_ne, v_ns
    from (
      select l.execution_id::text as execution_id, l.seq
      from workflow_logs_private.matching_logs(v_ids[i], p_after, v_level, v_category, v_event_type, p_node_id,
                                               v_milestones, p_min_priority, v_start, v_end, v_query) l
      where v_bound is null or l.seq <= v_bound
      order by l.seq
      limit v_k
    ) m;
    select array_agg(u.e order by u.s), array_agg(u.s order by u.s)
      into v_e, v_s
    from (
      select u.e, u.s
      from unnest(v_e || coalesce(v_ne, '{}'), v_s || coalesce(v_ns, '{}')) as u(e, s)
      order by u.s
      limit v_k
    ) u;
    if cardinality(v_s) = v_k then
      v_bound := v_s[v_k];
    end if;
  end loop;

  select coalesce(json_agg(workflow_logs_private.entry_json(l, v_query, true) order by l.seq), '[]'::json),
         max(l.seq)
    into logs, v_last
  from unnest(v_e[p_offset + 1 : p_offset + p_limit], v_s[p_offset + 1 : p_offset + p_limit]) as u(e, s)
  join public.workflow_execution_logs l on l.execution_id = u.e and l.seq = u.s;
  has_more := coalesce(cardinality(v_s), 0) = v_k;
  next_cursor := coalesce(v_last, p_after);
end;
$$;

comment on function workflow_logs_private.workflow_logs_page(uuid, integer, integer, bigint, public.log_level_enum, text, public.log_event_type_enum, text, boolean, integer, timestamptz, timestamptz, tsquery, boolean) is 'A page of the logs of every execution of a workflow (seq order by a bounded merge, or rank order), entries with execution_id. Security definer reader guarded by assert_may_read_workflow.';

create or replace function public.get_workflow_logs(
  workflow_id text,
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
  min_priority integer default null,
  q text default null,
  "order" text default 'seq'
)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
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
  v_query tsquery := workflow_logs_private.parse_query($13, 'q');
  v_rank boolean := workflow_logs_private.parse_order($14, v_query is not null);
  v_workflow_id uuid;
  v_page record;
begin
  perform workflow_logs_private.check_page(p_limit, p_offset);
  if p_offset > 100000 then
    raise exception using errcode = '22023', message = format('offset must be at most 100000 (got %s); page with after', p_offset);
  end if;
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
  if v_rank and p_after is not null then
    raise exception using errcode = '22023', message = 'after cannot be combined with order rank; page ranked results with offset';
  end if;
  v_workflow_id := workflow_logs_private.require_workflow($1);

  select * into v_page
  from workflow_logs_private.workflow_logs_page(
    v_workflow_id, p_limit, p_offset, p_after, v_level, v_category, v_event_type,
    p_node_id, v_milestones, p_min_priority, v_start, v_end, v_query, v_rank);
  return json_build_object(
    'workflow_id', v_workflow_id,
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

comment on function public.get_workflow_logs(text, integer, integer, text, text, text, bigint, text, text, text, boolean, integer, text, text) is
'Logs of every execution of a workflow in one seq-ordered list: {workflow_id, logs: (LogEntry + execution_id)[], total_count, pagination: {limit, offset, has_more, next_cursor}}. '
'Same filters, q and "order" as get_execution_logs. Pass pagination.next_cursor back as `after` (seq is global, so the cursor spans executions); offset is capped at 100000. '
'total_count is given on the first page of a walk (after absent) and is null on cursor pages.';

-- =============================================================================================
-- get_workflow_stats
-- =============================================================================================
-- Statistics of the executions of a workflow that started in [since, until) (security definer reader,
-- see assert_may_read_workflow). Runs and durations from workflow_executions, log counts from the
-- maintained counts, error messages from the ERROR/CRITICAL index range of each run that has errors,
-- nodes from workflow_execution_nodes.
create or replace function workflow_logs_private.workflow_stats(
  p_workflow_id uuid,
  v_since timestamptz,
  v_until timestamptz,
  p_top integer
)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
set jit = off
set plan_cache_mode = force_custom_plan
as $$
declare
  v_ids text[];
  v_runs jsonb;
  v_durations jsonb;
  v_logs jsonb;
  v_errors jsonb;
  v_nodes jsonb;
  v_total bigint;
  v_finished bigint;
  v_failed bigint;
begin
  perform workflow_logs_private.assert_may_read_workflow(p_workflow_id);

  select coalesce(array_agg(we.execution_id::text), '{}') into v_ids
  from public.workflow_executions we
  where we.workflow_id = p_workflow_id
    and (v_since is null or we.start_time >= v_since)
    and (v_until is null or we.start_time < v_until);

  select coalesce(jsonb_object_agg(s.status, s.n), '{}'::jsonb),
         coalesce(sum(s.n), 0),
         coalesce(sum(s.n) filter (where workflow_logs_private.is_finished(s.status)), 0),
         coalesce(sum(s.n) filter (where s.status in ('ERROR', 'TIMEOUT')), 0)
    into v_runs, v_total, v_finished, v_failed
  from (
    select we.status, count(*) as n
    from public.workflow_executions we
    where we.execution_id = any (v_ids)
    group by we.status
  ) s;

  select jsonb_build_object(
           'avg', round(avg(d.seconds), 3),
           'p50', round((percentile_cont(0.5) within group (order by d.seconds))::numeric, 3),
           'p95', round((percentile_cont(0.95) within group (order by d.seconds))::numeric, 3),
           'max', round(max(d.seconds), 3))
    into v_durations
  from (
    select extract(epoch from we.end_time - we.start_time) as seconds
    from public.workflow_executions we
    where we.execution_id = any (v_ids) and we.end_time is not null
      and workflow_logs_private.is_finished(we.status)
  ) d;

  select jsonb_build_object(
           'total', coalesce(sum(x.n), 0),
           'by_level', coalesce(jsonb_object_agg(lower(x.level::text), x.n) filter (where x.level is not null), '{}'::jsonb))
    into v_logs
  from (
    select c.level, sum(c.log_count) as n
    from public.workflow_execution_log_counts c
    where c.execution_id = any (v_ids)
    group by c.level
  ) x;

  select coalesce(jsonb_agg(jsonb_build_object(
           'message', t.message, 'count', t.n, 'executions', t.runs, 'last_seen', t.last_seen)
           order by t.n desc, t.message), '[]'::jsonb)
    into v_errors
  from (
    select l.message, count(*) as n, count(distinct l.execution_id) as runs, max(l.created_at) as last_seen
    from public.workflow_execution_logs l
    where l.execution_id = any (
            select distinct c.execution_id from public.workflow_execution_log_counts c
            where c.execution_id = any (v_ids) and c.level in ('ERROR', 'CRITICAL'))
      and l.level in ('ERROR', 'CRITICAL')
      -- only the partitions these executions' logs are in (folded while planning: see 20251125000700)
      and l.expires_on >= workflow_logs_private.first_log_expiry_of(v_ids)
      and l.expires_on <= workflow_logs_private.last_log_expiry_of(v_ids)
    group by l.message
    order by count(*) desc, l.message
    limit p_top
  ) t;

  select coalesce(jsonb_agg(jsonb_build_object(
           'node_id', t.node_id, 'node_name', coalesce(t.node_name, t.node_id), 'node_type', t.node_type,
           'executions', t.runs, 'failures', t.failures,
           'avg_duration_seconds', round(t.avg_seconds, 3), 'max_duration_seconds', round(t.max_seconds, 3))
           order by t.avg_seconds desc nulls last, t.node_id), '[]'::jsonb)
    into v_nodes
  from (
    select n.node_id,
           (array_agg(n.node_name order by n.last_log_at desc) filter (where n.node_name is not null))[1] as node_name,
           (array_agg(n.node_type order by n.last_log_at desc) filter (where n.node_type is not null))[1] as node_type,
           count(*) as runs,
           count(*) filter (where n.status = 'failed') as failures,
           avg(coalesce(n.duration_seconds::numeric, extract(epoch from n.last_log_at - n.first_log_at))) as avg_seconds,
           max(coalesce(n.duration_seconds::numeric, extract(epoch from n.last_log_at - n.first_log_at))) as max_seconds
    from public.workflow_execution_nodes n
    where n.execution_id = any (v_ids)
    group by n.node_id
    order by 6 desc nulls last, n.node_id
    limit p_top
  ) t;

  return jsonb_build_object(
    'runs', jsonb_build_object('total', v_total, 'by_status', v_runs, 'finished', v_finished, 'failed', v_failed),
    'error_rate', case when v_finished > 0 then round(v_failed::numeric / v_finished, 4) end,
    'duration_seconds', v_durations,
    'logs', v_logs,
    'top_errors', v_errors,
    'slowest_nodes', v_nodes
  );
end;
$$;

comment on function workflow_logs_private.workflow_stats(uuid, timestamptz, timestamptz, integer) is 'Statistics of a workflow''s executions that started in [since, until). Security definer reader guarded by assert_may_read_workflow.';

create or replace function public.get_workflow_stats(
  workflow_id text,
  since text default null,
  until text default null,
  top integer default 10
)
returns jsonb
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_since timestamptz := workflow_logs_private.parse_time($2, 'since');
  v_until timestamptz := workflow_logs_private.parse_time($3, 'until');
  v_workflow_id uuid;
begin
  if top is null or top < 1 or top > 100 then
    raise exception using errcode = '22023', message = format('top must be between 1 and 100 (got %s)', coalesce(top::text, 'null'));
  end if;
  if v_since >= v_until then
    raise exception using errcode = '22023', message = format('since (%s) must be before until (%s)', $2, $3);
  end if;
  v_workflow_id := workflow_logs_private.require_workflow($1);
  return jsonb_build_object('workflow_id', v_workflow_id, 'since', v_since, 'until', v_until)
         || workflow_logs_private.workflow_stats(v_workflow_id, v_since, v_until, top);
end;
$$;

comment on function public.get_workflow_stats(text, text, text, integer) is
'Dashboard statistics of the executions of a workflow that started in [since, until) (ISO 8601; either may be null for no bound): '
'{workflow_id, since, until, runs: {total, by_status, finished, failed}, error_rate (ERROR and TIMEOUT runs / finished runs, null without finished runs), '
'duration_seconds: {avg, p50, p95, max} of finished runs, logs: {total, by_level}, '
'top_errors: [{message, count, executions, last_seen}] (ERROR and CRITICAL logs, by raw message), '
'slowest_nodes: [{node_id, node_name, node_type, executions, failures, avg_duration_seconds, max_duration_seconds}] '
'(a node''s duration is the duration_seconds it reported, else the span of its logs)}; top (1..100, default 10) bounds both lists.';

-- =============================================================================================
-- Privileges
-- =============================================================================================
revoke all on function public.get_execution_logs(text, integer, integer, text, text, text, bigint, text, text, text, boolean, integer, text, text) from public, anon, authenticated, service_role;
revoke all on function public.get_workflow_logs(text, integer, integer, text, text, text, bigint, text, text, text, boolean, integer, text, text) from public, anon, authenticated, service_role;
revoke all on function public.get_workflow_stats(text, text, text, integer) from public, anon, authenticated, service_role;
grant execute on function public.get_execution_logs(text, integer, integer, text, text, text, bigint, text, text, text, boolean, integer, text, text) to authenticated, service_role;
grant execute on function public.get_workflow_logs(text, integer, integer, text, text, text, bigint, text, text, text, boolean, integer, text, text) to authenticated, service_role;
grant execute on function public.get_workflow_stats(text, text, text, integer) to authenticated, service_role;

do $$
declare
  fn regprocedure;
begin
  for fn in
    select p.oid::regprocedure
    from pg_proc p
    where p.pronamespace = 'workflow_logs_private'::regnamespace
      and p.proname in ('parse_query', 'parse_order', 'matching_logs', 'headline', 'entry_json', 'require_workflow',
                        'assert_may_read_workflow', 'execution_search_page', 'workflow_candidates',
                        'workflow_logs_page', 'workflow_stats')
  loop
    execute format('revoke all on function %s from public, anon, authenticated, service_role', fn);
    execute format('grant execute on function %s to authenticated, service_role', fn);
  end loop;
end
$$;
