-- What a live reader needs in one round trip: the execution's state, and the logs after a cursor.
--
--   get_execution_state(execution_id)                 -- status, finished?, last_seq, total_logs
--   get_execution_log_events(execution_id, after, limit)
--                                                     -- status + the next logs after `after`
--
-- The bridge's SSE streams and HTTP caching (ETag of finished executions) use these; supabase-js clients
-- can too (after a Realtime Broadcast that carried only a seq range). Both are security invoker: RLS on
-- workflow_executions decides, P0002 when the caller cannot see the execution.

create or replace function workflow_logs_private.is_finished(status text)
returns boolean
language sql
immutable
parallel safe
as $$
  select status in ('SUCCESS', 'ERROR', 'CANCELED', 'TIMEOUT')
$$;

comment on function workflow_logs_private.is_finished(text) is 'True for the final execution statuses (SUCCESS, ERROR, CANCELED, TIMEOUT).';

create or replace function public.get_execution_state(execution_id text)
returns jsonb
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_execution public.workflow_executions := workflow_logs_private.require_execution($1);
  v_stats record;
begin
  select coalesce(sum(c.log_count), 0) as total_logs, max(c.last_seq) as last_seq
    into v_stats
  from public.workflow_execution_log_counts c
  where c.execution_id = v_execution.execution_id;

  return jsonb_build_object(
    'execution_id', v_execution.execution_id,
    'workflow_id', v_execution.workflow_id,
    'status', v_execution.status,
    'finished', workflow_logs_private.is_finished(v_execution.status),
    'start_time', v_execution.start_time,
    'end_time', v_execution.end_time,
    'error_message', v_execution.error_message,
    'updated_at', v_execution.updated_at,
    'last_seq', v_stats.last_seq,
    'total_logs', v_stats.total_logs
  );
end;
$$;

comment on function public.get_execution_state(text) is
'State of one execution: {execution_id, workflow_id, status, finished, start_time, end_time, error_message, updated_at, last_seq, total_logs}. '
'last_seq changes whenever a log is appended, so (status, last_seq) identifies a version of the execution''s logs.';

create or replace function public.get_execution_log_events(
  execution_id text,
  after bigint default 0,
  "limit" integer default 1000
)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_execution public.workflow_executions := workflow_logs_private.require_execution($1);
  v_page record;
begin
  perform workflow_logs_private.check_page($3, 0);
  if $2 is null or $2 < 0 then
    raise exception using errcode = '22023', message = format('after must be 0 or more (got %s)', coalesce($2::text, 'null'));
  end if;
  select * into v_page from workflow_logs_private.execution_events_after(v_execution.execution_id, $2, $3);
  return json_build_object(
    'execution_id', v_execution.execution_id,
    'status', v_execution.status,
    'finished', workflow_logs_private.is_finished(v_execution.status),
    'end_time', v_execution.end_time,
    'error_message', v_execution.error_message,
    'logs', v_page.logs,
    'total_count', v_page.total_count,
    'last_seq', v_page.last_seq,
    'next_cursor', v_page.next_cursor,
    'has_more', v_page.has_more
  );
end;
$$;

-- The logs after a cursor for many executions in one statement (one plan, one pass, whatever the
-- count). Security definer reader: keeps only executions the caller may read, by the same rule as
-- assert_may_read.
create or replace function workflow_logs_private.events_after_many(execution_ids text[], afters bigint[], lim integer)
returns table (execution_id text, logs json, next_cursor bigint, has_more boolean)
language sql
stable
security definer
set search_path = ''
set jit = off
as $$
  select x.id,
         coalesce(json_agg(workflow_logs_private.log_entry(p.r) order by (p.r).seq)
                    filter (where p.n <= lim), '[]'::json),
         coalesce(max((p.r).seq) filter (where p.n <= lim), x.after),
         count(p.r) > lim
  from unnest(execution_ids, afters) as x(id, after)
  left join lateral (
    select y.r, row_number() over (order by (y.r).seq) as n
    from (
      select l as r
      from public.workflow_execution_logs l
      where l.execution_id = x.id and l.seq > x.after
      order by l.seq
      limit lim + 1
    ) y
  ) p on true
  where workflow_logs_private.caller_bypasses_rls()
     or exists (
       select 1
       from public.workflow_executions we
       join public.workflows w on w.id = we.workflow_id
       where we.execution_id = x.id and w.user_id = (select auth.uid())
     )
  group by x.id, x.after
$$;

-- The same as get_execution_log_events for many executions in one call: {"<execution_id>": <after>, ...}
-- -> a JSON array with one object per execution the caller can see (the others are simply absent).
-- A live reader watching many executions pays one round trip and one statement per wave of
-- notifications, not one per execution. total_count is given once an execution is finished.
create or replace function public.get_execution_log_events_batch(
  cursors jsonb,
  "limit" integer default 500
)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_bad text;
  v_ids text[];
  v_afters bigint[];
begin
  perform workflow_logs_private.check_page($2, 0);
  if cursors is null or jsonb_typeof(cursors) <> 'object' then
    raise exception using errcode = '22023', message = 'cursors must be a JSON object {"<execution_id>": <after seq>}';
  end if;
  if (select count(*) from jsonb_object_keys(cursors)) > 1000 then
    raise exception using errcode = '22023', message = 'cursors holds more than 1000 executions';
  end if;
  select format('cursors.%s must be a non-negative seq (got %s)', c.key, c.value) into v_bad
  from jsonb_each(cursors) c
  where jsonb_typeof(c.value) <> 'number' or (c.value)::numeric < 0 or (c.value)::numeric <> trunc((c.value)::numeric)
  limit 1;
  if v_bad is not null then
    raise exception using errcode = '22023', message = v_bad;
  end if;
  -- RLS on workflow_executions decides which of them exist for the caller.
  select array_agg(we.execution_id), array_agg((c.value)::bigint)
    into v_ids, v_afters
  from jsonb_each(cursors) c
  join public.workflow_executions we on we.execution_id = c.key;
  if v_ids is null then
    return '[]'::json;
  end if;
  return (
    select coalesce(json_agg(json_build_object(
             'execution_id', we.execution_id,
             'status', we.status,
             'finished', workflow_logs_private.is_finished(we.status),
             'end_time', we.end_time,
             'error_message', we.error_message,
             'logs', e.logs,
             'total_count', case when workflow_logs_private.is_finished(we.status) then (
                              select coalesce(sum(c.log_count), 0)
                              from public.workflow_execution_log_counts c
                              where c.execution_id = we.execution_id) end,
             'next_cursor', e.next_cursor,
             'has_more', e.has_more
           ) order by we.execution_id), '[]'::json)
    from workflow_logs_private.events_after_many(v_ids, v_afters, $2) e
    join public.workflow_executions we on we.execution_id = e.execution_id
  );
end;
$$;

comment on function public.get_execution_log_events_batch(jsonb, integer) is
'get_execution_log_events for many executions in one call: cursors {"<execution_id>": <after>} -> [events object per visible execution]. '
'Executions the caller cannot see are left out. At most 1000 executions per call.';

comment on function public.get_execution_log_events(text, bigint, integer) is
'For live readers: the execution''s status (and whether it is finished) with the next `limit` logs after seq `after`, read in the same snapshot: '
'{execution_id, status, finished, end_time, error_message, logs, total_count, last_seq (the highest seq the execution has), next_cursor, has_more}. A status read together with the logs means a '
'reader that sees finished=true and has_more=false has seen every log written before the status changed.';

revoke all on function workflow_logs_private.is_finished(text) from public, anon, authenticated, service_role;
grant execute on function workflow_logs_private.is_finished(text) to authenticated, service_role;
revoke all on function public.get_execution_state(text) from public, anon, authenticated, service_role;
revoke all on function public.get_execution_log_events(text, bigint, integer) from public, anon, authenticated, service_role;
revoke all on function public.get_execution_log_events_batch(jsonb, integer) from public, anon, authenticated, service_role;
revoke all on function workflow_logs_private.events_after_many(text[], bigint[], integer) from public, anon, authenticated, service_role;
grant execute on function public.get_execution_state(text) to authenticated, service_role;
grant execute on function public.get_execution_log_events(text, bigint, integer) to authenticated, service_role;
grant execute on function public.get_execution_log_events_batch(jsonb, integer) to authenticated, service_role;
grant execute on function workflow_logs_private.events_after_many(text[], bigint[], integer) to authenticated, service_role;
