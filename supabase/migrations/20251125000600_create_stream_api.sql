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

-- The logs after a cursor, unfiltered: a static query whose plan stays cached (no per-call planning),
-- plus the execution's total. Security definer reader (see workflow_logs_private.assert_may_read).
create or replace function workflow_logs_private.execution_events_after(
  execution_id text,
  after bigint,
  lim integer,
  out logs json,
  out next_cursor bigint,
  out has_more boolean,
  out total_count bigint
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
  select coalesce(sum(c.log_count), 0) into total_count
  from public.workflow_execution_log_counts c
  where c.execution_id = execution_events_after.execution_id;
end;
$$;

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
    'next_cursor', v_page.next_cursor,
    'has_more', v_page.has_more
  );
end;
$$;

-- The same for many executions in one call: {"<execution_id>": <after>, ...} -> a JSON array with one
-- get_execution_log_events object per execution the caller can see (the others are simply absent).
-- A live reader that watches many executions pays one round trip and one transaction per wave of
-- notifications, not one per execution.
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
  r record;
  v_page record;
  v_out json[] := '{}';
begin
  perform workflow_logs_private.check_page($2, 0);
  if cursors is null or jsonb_typeof(cursors) <> 'object' then
    raise exception using errcode = '22023', message = 'cursors must be a JSON object {"<execution_id>": <after seq>}';
  end if;
  if (select count(*) from jsonb_object_keys(cursors)) > 1000 then
    raise exception using errcode = '22023', message = 'cursors holds more than 1000 executions';
  end if;
  for r in
    select we.execution_id, we.status, we.end_time, we.error_message, c.value as after
    from jsonb_each(cursors) c
    join public.workflow_executions we on we.execution_id = c.key
    order by we.execution_id
  loop
    if jsonb_typeof(r.after) <> 'number' or (r.after)::numeric < 0 then
      raise exception using
        errcode = '22023',
        message = format('cursors.%s must be a non-negative seq (got %s)', r.execution_id, r.after);
    end if;
    select * into v_page
    from workflow_logs_private.execution_events_after(r.execution_id, (r.after)::bigint, $2);
    v_out := v_out || json_build_object(
      'execution_id', r.execution_id,
      'status', r.status,
      'finished', workflow_logs_private.is_finished(r.status),
      'end_time', r.end_time,
      'error_message', r.error_message,
      'logs', v_page.logs,
      'total_count', v_page.total_count,
      'next_cursor', v_page.next_cursor,
      'has_more', v_page.has_more
    );
  end loop;
  return array_to_json(v_out);
end;
$$;

comment on function public.get_execution_log_events_batch(jsonb, integer) is
'get_execution_log_events for many executions in one call: cursors {"<execution_id>": <after>} -> [events object per visible execution]. '
'Executions the caller cannot see are left out. At most 1000 executions per call.';

comment on function public.get_execution_log_events(text, bigint, integer) is
'For live readers: the execution''s status (and whether it is finished) with the next `limit` logs after seq `after`, read in the same snapshot: '
'{execution_id, status, finished, end_time, error_message, logs, total_count, next_cursor, has_more}. A status read together with the logs means a '
'reader that sees finished=true and has_more=false has seen every log written before the status changed.';

revoke all on function workflow_logs_private.is_finished(text) from public, anon, authenticated, service_role;
grant execute on function workflow_logs_private.is_finished(text) to authenticated, service_role;
revoke all on function public.get_execution_state(text) from public, anon, authenticated, service_role;
revoke all on function public.get_execution_log_events(text, bigint, integer) from public, anon, authenticated, service_role;
revoke all on function public.get_execution_log_events_batch(jsonb, integer) from public, anon, authenticated, service_role;
revoke all on function workflow_logs_private.execution_events_after(text, bigint, integer) from public, anon, authenticated, service_role;
grant execute on function public.get_execution_state(text) to authenticated, service_role;
grant execute on function public.get_execution_log_events(text, bigint, integer) to authenticated, service_role;
grant execute on function public.get_execution_log_events_batch(jsonb, integer) to authenticated, service_role;
grant execute on function workflow_logs_private.execution_events_after(text, bigint, integer) to authenticated, service_role;
