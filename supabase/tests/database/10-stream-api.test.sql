-- get_execution_state and get_execution_log_events (live readers): shape, numbers, the cursor, the
-- finished flag, bad input, and who may call them.
begin;
set local search_path = public, extensions;
select plan(25);

-- =============================================================================================
-- Fixtures (as postgres)
-- =============================================================================================
insert into auth.users (id, aud, role, email) values
  ('00000010-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'owner-10@example.com'),
  ('00000010-0000-4000-8000-000000000002', 'authenticated', 'authenticated', 'other-10@example.com');
insert into public.workflows (id, user_id, name) values
  ('00000010-0000-4000-8000-0000000000a1', '00000010-0000-4000-8000-000000000001', 'owner workflow 10');
insert into public.workflow_executions (execution_id, workflow_id, status, start_time) values
  ('pgtap-10-exec', '00000010-0000-4000-8000-0000000000a1', 'RUNNING', '2025-06-01T00:00:00Z'),
  ('pgtap-10-empty', '00000010-0000-4000-8000-0000000000a1', 'NEW', '2025-06-01T00:00:00Z');
insert into public.workflow_execution_logs (id, execution_id, event_type, message)
select ('00000010-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'pgtap-10-exec', 'step_output', 'log ' || i
from generate_series(1, 5) i;

create function pg_temp.ids(response jsonb) returns setof uuid
language sql immutable
as $$ select (e ->> 'id')::uuid from jsonb_array_elements(response -> 'logs') with ordinality x(e, n) order by n $$;
grant execute on function pg_temp.ids(jsonb) to public;

-- =============================================================================================
-- As the owner
-- =============================================================================================
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"00000010-0000-4000-8000-000000000001","role":"authenticated"}', true);

select is(array(select jsonb_object_keys(get_execution_state('pgtap-10-exec')) order by 1),
          array['end_time', 'error_message', 'execution_id', 'finished', 'last_seq', 'start_time', 'status',
                'total_logs', 'updated_at', 'workflow_id'],
          'state has execution_id, workflow_id, status, finished, times, error_message, updated_at, last_seq, total_logs');
select is(get_execution_state('pgtap-10-exec') - array['execution_id', 'start_time', 'end_time', 'error_message', 'updated_at'],
          (select jsonb_build_object('workflow_id', '00000010-0000-4000-8000-0000000000a1', 'status', 'RUNNING', 'finished', false,
                                     'last_seq', max(seq), 'total_logs', count(*))
           from workflow_execution_logs where execution_id = 'pgtap-10-exec'),
          'state: status, finished false while RUNNING, last_seq and total_logs match the logs');
select is(get_execution_state('pgtap-10-empty') -> 'last_seq', 'null'::jsonb, 'state without logs: last_seq null');
select is(get_execution_state('pgtap-10-empty') -> 'total_logs', '0'::jsonb, 'state without logs: total_logs 0');

select results_eq($$ select pg_temp.ids(get_execution_log_events('pgtap-10-exec', 0, 2)::jsonb) $$,
                  $$ select id from workflow_execution_logs where execution_id = 'pgtap-10-exec' order by seq limit 2 $$,
                  'log events after 0, limit 2: the first two logs');
select is(get_execution_log_events('pgtap-10-exec', 0, 2)::jsonb - array['logs', 'end_time', 'error_message', 'last_seq'],
          (select jsonb_build_object('execution_id', 'pgtap-10-exec', 'status', 'RUNNING', 'finished', false,
                                     'total_count', 5, 'has_more', true,
                                     'next_cursor', (array_agg(seq order by seq))[2])
           from workflow_execution_logs where execution_id = 'pgtap-10-exec'),
          'log events: status, finished, total_count, has_more true, next_cursor = the second seq');
select results_eq(
  $$ select pg_temp.ids(get_execution_log_events('pgtap-10-exec',
       (get_execution_log_events('pgtap-10-exec', 0, 2) ->> 'next_cursor')::bigint, 10)::jsonb) $$,
  $$ select id from workflow_execution_logs where execution_id = 'pgtap-10-exec' order by seq offset 2 $$,
  'log events after next_cursor: the remaining logs');
select is(get_execution_log_events('pgtap-10-exec', (select max(seq) from workflow_execution_logs where execution_id = 'pgtap-10-exec'))::jsonb
            - array['execution_id', 'status', 'finished', 'end_time', 'error_message', 'total_count'],
          jsonb_build_object('logs', '[]'::jsonb, 'has_more', false,
                             'next_cursor', (select max(seq) from workflow_execution_logs where execution_id = 'pgtap-10-exec'),
                             'last_seq', (select max(seq) from workflow_execution_logs where execution_id = 'pgtap-10-exec')),
          'log events after the last seq: no logs, has_more false, next_cursor unchanged, last_seq = the highest seq');
select throws_ok($$ select get_execution_log_events('pgtap-10-exec', 0, 0)::jsonb $$, '22023', null, 'log events: limit 0 raises 22023');
select throws_ok($$ select get_execution_log_events('pgtap-10-exec', -1)::jsonb $$, '22023', null, 'log events: after -1 raises 22023');
select throws_ok($$ select get_execution_log_events('pgtap-10-exec', null)::jsonb $$, '22023', null, 'log events: after null raises 22023');
select throws_ok($$ select get_execution_state('pgtap-10-nope') $$, 'P0002', 'execution pgtap-10-nope not found',
                 'state: an unknown execution raises P0002');

-- =============================================================================================
-- The execution finishes (service_role)
-- =============================================================================================
reset role;
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
update public.workflow_executions set status = 'ERROR', end_time = '2025-06-01T00:01:00Z', error_message = 'boom'
where execution_id = 'pgtap-10-exec';
reset role;
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"00000010-0000-4000-8000-000000000001","role":"authenticated"}', true);
select is(get_execution_state('pgtap-10-exec') -> 'finished', 'true'::jsonb, 'state: finished true once the status is final');
select is(get_execution_log_events('pgtap-10-exec', 0)::jsonb - array['logs', 'total_count', 'next_cursor', 'has_more', 'last_seq'],
          jsonb_build_object('execution_id', 'pgtap-10-exec', 'status', 'ERROR', 'finished', true,
                             'end_time', '2025-06-01T00:01:00Z'::timestamptz, 'error_message', 'boom'),
          'log events carry the final status, end_time and error_message');

-- Batch: one call for many executions, as the owner
select is(json_array_length(get_execution_log_events_batch('{"pgtap-10-exec": 0, "pgtap-10-empty": 0, "no-such-exec": 0}', 2)),
          2, 'batch: one object per visible execution; unknown ones are left out');
select is((select array_agg(e ->> 'execution_id' order by e ->> 'execution_id')
           from json_array_elements(get_execution_log_events_batch('{"pgtap-10-exec": 0, "pgtap-10-empty": 0}', 2)) e),
          array['pgtap-10-empty', 'pgtap-10-exec'], 'batch: the executions asked for');
select is((select (e -> 'logs')::jsonb
           from json_array_elements(get_execution_log_events_batch('{"pgtap-10-exec": 0}', 2)) e),
          (get_execution_log_events('pgtap-10-exec', 0, 2)::jsonb -> 'logs'),
          'batch: the same logs as get_execution_log_events');
select throws_ok($$ select get_execution_log_events_batch('[1]') $$, '22023', null, 'batch: cursors must be an object');
select throws_ok($$ select get_execution_log_events_batch('{"pgtap-10-exec": "x"}') $$, '22023', null,
                 'batch: a cursor must be a number');

-- =============================================================================================
-- Another user and anon
-- =============================================================================================
select set_config('request.jwt.claims',
  '{"sub":"00000010-0000-4000-8000-000000000002","role":"authenticated"}', true);
select throws_ok($$ select get_execution_state('pgtap-10-exec') $$, 'P0002', 'execution pgtap-10-exec not found',
                 'other user: state raises P0002');
select throws_ok($$ select get_execution_log_events('pgtap-10-exec')::jsonb $$, 'P0002', 'execution pgtap-10-exec not found',
                 'other user: log events raise P0002');
select is(json_array_length(get_execution_log_events_batch('{"pgtap-10-exec": 0}')), 0,
          'other user: batch leaves the execution out');
reset role;
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok($$ select get_execution_state('pgtap-10-exec') $$, '42501', null, 'anon: state is denied');
select throws_ok($$ select get_execution_log_events('pgtap-10-exec')::jsonb $$, '42501', null, 'anon: log events are denied');
select throws_ok($$ select get_execution_log_events_batch('{"pgtap-10-exec": 0}') $$, '42501', null, 'anon: batch is denied');
reset role;

select * from finish();
rollback;
