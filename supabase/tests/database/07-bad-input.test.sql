-- Bad parameters raise (never an empty 200): SQLSTATE 22023 (22007 for an unparseable time) with a
-- message that names the parameter.
begin;
set local search_path = public, extensions;
select plan(28);

-- =============================================================================================
-- Fixtures (as postgres)
-- =============================================================================================
insert into auth.users (id, aud, role, email) values
  ('00000007-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'owner-07@example.com');
insert into public.workflows (id, user_id, name) values
  ('00000007-0000-4000-8000-0000000000a1', '00000007-0000-4000-8000-000000000001', 'owner workflow 07');
insert into public.workflow_executions (execution_id, workflow_id, status) values
  ('pgtap-07-exec', '00000007-0000-4000-8000-0000000000a1', 'RUNNING');
insert into public.workflow_execution_logs (execution_id, event_type, message) values
  ('pgtap-07-exec', 'workflow_started', 'hello');

-- SQLSTATE and message of a statement, or null when it succeeds.
create function pg_temp.err(statement text) returns text
language plpgsql
as $$
begin
  execute statement;
  return null;
exception
  when others then
    return sqlstate || ' ' || sqlerrm;
end;
$$;
grant execute on function pg_temp.err(text) to public;

set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"00000007-0000-4000-8000-000000000001","role":"authenticated"}', true);

-- =============================================================================================
-- get_execution_logs
-- =============================================================================================
select throws_ok($$ select get_execution_logs('pgtap-07-exec', 0)::jsonb $$, '22023',
                 'limit must be between 1 and 1000 (got 0)', 'limit 0: 22023 naming limit');
select throws_ok($$ select get_execution_logs('pgtap-07-exec', 1001)::jsonb $$, '22023',
                 'limit must be between 1 and 1000 (got 1001)', 'limit 1001: 22023 naming limit');
select matches(pg_temp.err($$ select get_execution_logs('pgtap-07-exec', null)::jsonb $$),
               '^22023 limit ', 'limit null: 22023 naming limit');
select throws_ok($$ select get_execution_logs('pgtap-07-exec', 10, -1)::jsonb $$, '22023',
                 'offset must be 0 or more (got -1)', 'negative offset: 22023 naming offset');
select matches(pg_temp.err($$ select get_execution_logs('pgtap-07-exec', level => 'verbose')::jsonb $$),
               '^22023 level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL', 'unknown level: 22023 naming level');
select matches(pg_temp.err($$ select get_execution_logs('pgtap-07-exec', level => '')::jsonb $$),
               '^22023 level ', 'empty level: 22023 naming level');
select matches(pg_temp.err($$ select get_execution_logs('pgtap-07-exec', event_type => 'step_exploded')::jsonb $$),
               '^22023 event_type must be one of', 'unknown event_type: 22023 naming event_type');
select matches(pg_temp.err($$ select get_execution_logs('pgtap-07-exec', category => 'marketing')::jsonb $$),
               '^22023 category must be business or technical', 'bad category: 22023 naming category');
select matches(pg_temp.err($$ select get_execution_logs('pgtap-07-exec', min_priority => 11)::jsonb $$),
               '^22023 min_priority must be between 1 and 10', 'min_priority 11: 22023 naming min_priority');
select matches(pg_temp.err($$ select get_execution_logs('pgtap-07-exec', min_priority => 0)::jsonb $$),
               '^22023 min_priority ', 'min_priority 0: 22023 naming min_priority');
select matches(pg_temp.err($$ select get_execution_logs('pgtap-07-exec', start_time => '2025-01-11T00:00:00Z',
                                                        end_time => '2025-01-10T00:00:00Z')::jsonb $$),
               '^22023 start_time .* must not be after end_time', 'start_time after end_time: 22023 naming both');
select matches(pg_temp.err($$ select get_execution_logs('pgtap-07-exec', start_time => 'not a time')::jsonb $$),
               '^22007 start_time must be an ISO 8601 timestamp', 'unparseable start_time: 22007 naming start_time');
select matches(pg_temp.err($$ select get_execution_logs('pgtap-07-exec', end_time => '2025-13-45T99:00:00Z')::jsonb $$),
               '^22007 end_time must be an ISO 8601 timestamp', 'unparseable end_time: 22007 naming end_time');
select matches(pg_temp.err($$ select get_execution_logs('pgtap-07-exec', after => -1)::jsonb $$),
               '^22023 after must be 0 or more', 'negative after: 22023 naming after');
select matches(pg_temp.err($$ select get_execution_logs('')::jsonb $$),
               '^22023 execution_id is required', 'empty execution_id: 22023 naming execution_id');
select matches(pg_temp.err($$ select get_execution_logs(null)::jsonb $$),
               '^22023 execution_id is required', 'null execution_id: 22023 naming execution_id');
select matches(pg_temp.err($$ select get_execution_logs('pgtap-07-nope', 0)::jsonb $$),
               '^22023 limit ', 'bad parameters are reported before the existence check');

-- The accepted forms of the same parameters.
select lives_ok($$ select get_execution_logs('pgtap-07-exec', 1, 0)::jsonb $$, 'limit 1, offset 0 are accepted');
select lives_ok($$ select get_execution_logs('pgtap-07-exec', 1000, 5000)::jsonb $$, 'limit 1000 and a large offset are accepted');
select lives_ok($$ select get_execution_logs('pgtap-07-exec', start_time => '2025-01-10', end_time => '2025-01-10T23:59:59.999999+05:30')::jsonb $$,
                'a date and a timestamp with fractional seconds and an offset are accepted');
select lives_ok($$ select get_execution_logs('pgtap-07-exec', start_time => '2025-01-10T00:00:00Z', end_time => '2025-01-10T00:00:00Z')::jsonb $$,
                'start_time = end_time is accepted');
select lives_ok($$ select get_execution_logs('pgtap-07-exec', min_priority => 1, category => 'TECHNICAL', after => 0)::jsonb $$,
                'min_priority 1, an uppercase category and after 0 are accepted');
select is((get_execution_logs('pgtap-07-exec', level => 'critical')::jsonb ->> 'total_count')::int, 0,
          'a valid filter with no match is an empty page, not an error');

-- =============================================================================================
-- get_execution_logs_summary and get_recent_logs
-- =============================================================================================
select matches(pg_temp.err($$ select get_execution_logs_summary('') $$),
               '^22023 execution_id is required', 'summary: empty execution_id: 22023');
select matches(pg_temp.err($$ select get_recent_logs('00000007-0000-4000-8000-0000000000a1', 0) $$),
               '^22023 limit must be between 1 and 1000', 'recent logs: limit 0: 22023 naming limit');
select matches(pg_temp.err($$ select get_recent_logs('00000007-0000-4000-8000-0000000000a1', 1001) $$),
               '^22023 limit must be between 1 and 1000', 'recent logs: limit 1001: 22023 naming limit');
select matches(pg_temp.err($$ select get_recent_logs('00000007-0000-4000-8000-0000000000a1x') $$),
               '^22023 workflow_id must be a UUID', 'recent logs: a malformed workflow_id: 22023 naming workflow_id');
select matches(pg_temp.err($$ select get_recent_logs('') $$),
               '^22023 workflow_id must be a UUID', 'recent logs: an empty workflow_id: 22023 naming workflow_id');
reset role;

select * from finish();
rollback;
