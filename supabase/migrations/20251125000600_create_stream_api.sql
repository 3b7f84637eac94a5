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
  select * into v_page
  from workflow_logs_private.execution_logs_page(
    v_execution.execution_id, $3, 0, $2, null, null, null, null, false, null, null, null);
  return json_build_object(
    'execution_id', v_execution.execution_id,
    'status', v_execution.status,
    'finished', workflow_logs_private.is_finished(v_execution.status),
    'end_time', v_execution.end_time,
    'error_message', v_execution.error_message,
    'logs', v_page.logs,
    'total_count', v_page.total_count,
    'next_cursor', v_page.next_cursor,
    'has_more', v_page.has_more
  );
end;
$$;

comment on function public.get_execution_log_events(text, bigint, integer) is
'For live readers: the execution''s status (and whether it is finished) with the next `limit` logs after seq `after`, read in the same snapshot: '
'{execution_id, status, finished, end_time, error_message, logs, total_count, next_cursor, has_more}. A status read together with the logs means a '
'reader that sees finished=true and has_more=false has seen every log written before the status changed.';

revoke all on function workflow_logs_private.is_finished(text) from public, anon, authenticated, service_role;
grant execute on function workflow_logs_private.is_finished(text) to authenticated, service_role;
revoke all on function public.get_execution_state(text) from public, anon, authenticated, service_role;
revoke all on function public.get_execution_log_events(text, bigint, integer) from public, anon, authenticated, service_role;
grant execute on function public.get_execution_state(text) to authenticated, service_role;
grant execute on function public.get_execution_log_events(text, bigint, integer) to authenticated, service_role;
