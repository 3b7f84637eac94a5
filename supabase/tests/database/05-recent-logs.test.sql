-- get_recent_logs: latest execution by start_time, its newest `limit` logs oldest-first, summary
-- counts, include_all_executions, a workflow without executions, and who may call it.
begin;
set local search_path = public, extensions;
select plan(28);

-- =============================================================================================
-- Fixtures (as postgres)
-- =============================================================================================
insert into auth.users (id, aud, role, email) values
  ('00000005-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'owner-05@example.com'),
  ('00000005-0000-4000-8000-000000000002', 'authenticated', 'authenticated', 'other-05@example.com');
insert into public.workflows (id, user_id, name) values
  ('00000005-0000-4000-8000-0000000000a1', '00000005-0000-4000-8000-000000000001', 'owner workflow 05'),
  ('00000005-0000-4000-8000-0000000000a2', '00000005-0000-4000-8000-000000000001', 'owner workflow 05, never run'),
  ('00000005-0000-4000-8000-0000000000a3', '00000005-0000-4000-8000-000000000002', 'other workflow 05');

-- The latest execution (by start_time) is inserted first, so insertion order cannot pass for it.
insert into public.workflow_executions (execution_id, workflow_id, status, start_time, end_time, error_message) values
  ('pgtap-05-new', '00000005-0000-4000-8000-0000000000a1', 'RUNNING', '2025-03-03T09:00:00Z', null, null),
  ('pgtap-05-old', '00000005-0000-4000-8000-0000000000a1', 'SUCCESS', '2025-03-01T09:00:00Z', '2025-03-01T09:01:23.5Z', null),
  ('pgtap-05-mid', '00000005-0000-4000-8000-0000000000a1', 'ERROR', '2025-03-02T09:00:00Z', '2025-03-02T09:10:00Z', 'boom'),
  ('pgtap-05-other', '00000005-0000-4000-8000-0000000000a3', 'RUNNING', '2025-03-04T09:00:00Z', null, null);

insert into public.workflow_execution_logs (id, execution_id, event_type, level, message, is_milestone, created_at)
select ('00000005-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'pgtap-05-new',
       case when i = 1 then 'workflow_started' else 'step_output' end::public.log_event_type_enum,
       case when i in (3, 11) then 'ERROR' when i = 7 then 'CRITICAL' when i in (5, 9) then 'WARNING' else 'INFO' end::public.log_level_enum,
       'new ' || i, i in (1, 6, 12), '2025-03-03T09:00:00Z'::timestamptz + i * interval '1 second'
from generate_series(1, 12) i;
insert into public.workflow_execution_logs (execution_id, event_type, level, message, created_at)
select 'pgtap-05-mid', 'step_error', case when i <= 2 then 'ERROR' else 'INFO' end::public.log_level_enum,
       'mid ' || i, '2025-03-02T09:00:00Z'::timestamptz + i * interval '1 second'
from generate_series(1, 4) i;
insert into public.workflow_execution_logs (execution_id, event_type, level, message, created_at)
select 'pgtap-05-old', 'step_output', 'INFO', 'old ' || i, '2025-03-01T09:00:00Z'::timestamptz + i * interval '1 second'
from generate_series(1, 2) i;
insert into public.workflow_execution_logs (execution_id, event_type, level, message)
values ('pgtap-05-other', 'step_output', 'INFO', 'other user''s log');

create function pg_temp.ids(response jsonb) returns setof uuid
language sql immutable
as $$ select (e ->> 'id')::uuid from jsonb_array_elements(response -> 'logs') with ordinality x(e, n) order by n $$;
create function pg_temp.execution_ids(items jsonb) returns text[]
language sql immutable
as $$ select coalesce(array_agg(e ->> 'execution_id' order by n), '{}') from jsonb_array_elements(items) with ordinality x(e, n) $$;
grant execute on all functions in schema pg_temp to public;

-- =============================================================================================
-- As the owner
-- =============================================================================================
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"00000005-0000-4000-8000-000000000001","role":"authenticated"}', true);

select is(array(select jsonb_object_keys(get_recent_logs('00000005-0000-4000-8000-0000000000a1')) order by 1),
          array['latest_execution', 'logs', 'summary', 'workflow_id'],
          'response has workflow_id, latest_execution, logs, summary (and nothing else by default)');
select is(get_recent_logs('00000005-0000-4000-8000-0000000000a1') ->> 'workflow_id', '00000005-0000-4000-8000-0000000000a1',
          'workflow_id is echoed');
select is(get_recent_logs('00000005-0000-4000-8000-0000000000a1') -> 'latest_execution',
          jsonb_build_object('execution_id', 'pgtap-05-new', 'status', 'RUNNING', 'start_time', '2025-03-03T09:00:00Z'::timestamptz),
          'latest_execution is the execution with the latest start_time; no end_time/duration/error_message while unset');
select results_eq($$ select pg_temp.ids(get_recent_logs('00000005-0000-4000-8000-0000000000a1')) $$,
                  $$ select id from workflow_execution_logs where execution_id = 'pgtap-05-new' order by seq $$,
                  'default limit: every log of the latest execution, oldest first');
select results_eq($$ select pg_temp.ids(get_recent_logs('00000005-0000-4000-8000-0000000000a1', 5)) $$,
                  $$ select id from (select id, seq from workflow_execution_logs where execution_id = 'pgtap-05-new'
                                     order by seq desc limit 5) x order by seq $$,
                  'limit 5: the newest 5 logs, returned oldest first');
select results_eq($$ select pg_temp.ids(get_recent_logs('00000005-0000-4000-8000-0000000000a1', 1)) $$,
                  $$ values ('00000005-0000-4000-8000-000000000012'::uuid) $$,
                  'limit 1: the newest log');
select is(get_recent_logs('00000005-0000-4000-8000-0000000000a1', 5) -> 'logs' -> 3 ->> 'level', 'error',
          'logs are LogEntry objects (lowercase level)');
select is(get_recent_logs('00000005-0000-4000-8000-0000000000a1', 5) -> 'summary',
          (select jsonb_build_object('total_logs', count(*),
                                     'error_count', count(*) filter (where level in ('ERROR', 'CRITICAL')),
                                     'warning_count', count(*) filter (where level = 'WARNING'),
                                     'milestone_count', count(*) filter (where is_milestone))
           from workflow_execution_logs where execution_id = 'pgtap-05-new'),
          'summary matches a brute-force count over all logs of the latest execution (not just the page)');
select is(get_recent_logs('00000005-0000-4000-8000-0000000000a1') -> 'summary',
          '{"total_logs": 12, "error_count": 3, "warning_count": 2, "milestone_count": 3}'::jsonb,
          'summary: error_count counts ERROR and CRITICAL');
select ok(not get_recent_logs('00000005-0000-4000-8000-0000000000a1', 100, false) ?| array['other_executions', 'total_executions'],
          'include_all_executions false: no other_executions, no total_executions');

-- include_all_executions
select is(pg_temp.execution_ids(get_recent_logs('00000005-0000-4000-8000-0000000000a1', 100, true) -> 'other_executions'),
          array['pgtap-05-mid', 'pgtap-05-old'],
          'include_all_executions: other_executions are the earlier executions, newest first, without the latest');
select is((get_recent_logs('00000005-0000-4000-8000-0000000000a1', 100, true) ->> 'total_executions')::int, 3,
          'include_all_executions: total_executions counts every execution of the workflow');
select is(get_recent_logs('00000005-0000-4000-8000-0000000000a1', 100, true) -> 'other_executions' -> 0,
          jsonb_build_object('execution_id', 'pgtap-05-mid', 'status', 'ERROR',
                             'start_time', '2025-03-02T09:00:00Z'::timestamptz, 'end_time', '2025-03-02T09:10:00Z'::timestamptz,
                             'duration', 'PT10M', 'error_message', 'boom', 'total_logs', 4, 'error_count', 2),
          'an ExecutionSummary: status, times, ISO 8601 duration, error_message, its log and error counts');
select is(get_recent_logs('00000005-0000-4000-8000-0000000000a1', 100, true) -> 'other_executions' -> 1 ->> 'duration',
          'PT1M23.5S', 'duration keeps fractional seconds');
select is(get_recent_logs('00000005-0000-4000-8000-0000000000a1', 100, true) -> 'logs',
          get_recent_logs('00000005-0000-4000-8000-0000000000a1', 100, false) -> 'logs',
          'include_all_executions does not change logs');

-- A workflow that never ran.
select is(get_recent_logs('00000005-0000-4000-8000-0000000000a2'),
          '{"workflow_id": "00000005-0000-4000-8000-0000000000a2", "latest_execution": null, "logs": [],
            "summary": {"total_logs": 0, "error_count": 0, "warning_count": 0, "milestone_count": 0}}'::jsonb,
          'no executions: latest_execution null, no logs, zero summary');
select is(get_recent_logs('00000005-0000-4000-8000-0000000000a2', 10, true) - array['workflow_id', 'latest_execution', 'logs', 'summary'],
          '{"other_executions": [], "total_executions": 0}'::jsonb,
          'no executions, include_all_executions: other_executions [] and total_executions 0');

-- Unknown, other's, malformed.
select throws_ok($$ select get_recent_logs('00000005-0000-4000-8000-0000000000ff') $$,
                 'P0002', 'workflow 00000005-0000-4000-8000-0000000000ff not found', 'owner: an unknown workflow raises P0002');
select throws_ok($$ select get_recent_logs('00000005-0000-4000-8000-0000000000a3') $$,
                 'P0002', 'workflow 00000005-0000-4000-8000-0000000000a3 not found',
                 'owner: another user''s workflow raises P0002, exactly like an unknown one');
select throws_ok($$ select get_recent_logs('not-a-uuid') $$, '22023', null, 'an invalid uuid raises 22023');
select throws_matching($$ select get_recent_logs('not-a-uuid') $$, 'workflow_id', 'the invalid uuid message names workflow_id');
select throws_ok($$ select get_recent_logs(null) $$, '22023', null, 'a null workflow_id raises 22023');
select throws_ok($$ select get_recent_logs('00000005-0000-4000-8000-0000000000a1', 0) $$, '22023', null, 'limit 0 raises 22023');
select throws_ok($$ select get_recent_logs('00000005-0000-4000-8000-0000000000a1', 1001) $$, '22023', null, 'limit 1001 raises 22023');

-- =============================================================================================
-- The other user: sees their own workflow, not the owner's
-- =============================================================================================
select set_config('request.jwt.claims',
  '{"sub":"00000005-0000-4000-8000-000000000002","role":"authenticated"}', true);
select throws_ok($$ select get_recent_logs('00000005-0000-4000-8000-0000000000a1') $$,
                 'P0002', 'workflow 00000005-0000-4000-8000-0000000000a1 not found', 'other user: the owner''s workflow raises P0002');
select is(get_recent_logs('00000005-0000-4000-8000-0000000000a3') -> 'latest_execution' ->> 'execution_id', 'pgtap-05-other',
          'other user: reads their own workflow');

-- =============================================================================================
-- anon and service_role
-- =============================================================================================
reset role;
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok($$ select get_recent_logs('00000005-0000-4000-8000-0000000000a1') $$, '42501', null, 'anon: permission denied');

reset role;
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select is((get_recent_logs('00000005-0000-4000-8000-0000000000a1', 100, true) ->> 'total_executions')::int, 3,
          'service_role: reads any workflow');
reset role;

select * from finish();
rollback;
