-- append_execution_logs: service_role only; {inserted, duplicates, last_seq}; idempotent on id;
-- all-or-nothing with an error that names logs[i] and the field; every kind of bad input with its
-- SQLSTATE.
begin;
set local search_path = public, extensions;
select plan(48);

-- =============================================================================================
-- Fixtures (as postgres)
-- =============================================================================================
insert into auth.users (id, aud, role, email) values
  ('00000006-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'owner-06@example.com');
insert into public.workflows (id, user_id, name) values
  ('00000006-0000-4000-8000-0000000000a1', '00000006-0000-4000-8000-000000000001', 'owner workflow 06');
insert into public.workflow_executions (execution_id, workflow_id, status) values
  ('pgtap-06-exec', '00000006-0000-4000-8000-0000000000a1', 'RUNNING'),
  ('pgtap-06-exec-b', '00000006-0000-4000-8000-0000000000a1', 'RUNNING');

-- SQLSTATE and message of a statement, or null when it succeeds (its effects are rolled back only
-- when it fails).
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
-- A minimal valid entry, merged with overrides.
create function pg_temp.entry(overrides jsonb default '{}') returns jsonb
language sql immutable
as $$ select '{"execution_id": "pgtap-06-exec", "event_type": "step_output", "message": "m"}'::jsonb || overrides $$;
create function pg_temp.log_count() returns bigint
language sql stable
as $$ select count(*) from public.workflow_execution_logs where execution_id like 'pgtap-06-%' $$;
grant execute on all functions in schema pg_temp to public;
create temporary table pgtap_06_results (step text primary key, result jsonb);
grant select, insert on pgtap_06_results to public;

-- =============================================================================================
-- Only service_role may append
-- =============================================================================================
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"00000006-0000-4000-8000-000000000001","role":"authenticated"}', true);
select throws_ok($$ select append_execution_logs(jsonb_build_array(pg_temp.entry())) $$, '42501', null,
                 'authenticated (even the owner): permission denied');
reset role;
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok($$ select append_execution_logs(jsonb_build_array(pg_temp.entry())) $$, '42501', null,
                 'anon: permission denied');
reset role;
select is(pg_temp.log_count(), 0::bigint, 'the denied calls wrote nothing');

set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);

-- =============================================================================================
-- Happy path and idempotency
-- =============================================================================================
insert into pgtap_06_results values ('first', append_execution_logs(jsonb_build_array(
  pg_temp.entry('{"id": "00000006-0000-4000-8000-00000000f001", "message": "one"}'),
  pg_temp.entry('{"id": "00000006-0000-4000-8000-00000000f002", "message": "two"}'),
  pg_temp.entry('{"id": "00000006-0000-4000-8000-00000000f003", "message": "three"}'))));
select is((select result from pgtap_06_results where step = 'first'),
          jsonb_build_object('inserted', 3, 'duplicates', 0, 'last_seq',
            (select max(seq) from workflow_execution_logs where id::text like '00000006-0000-4000-8000-00000000f00_')),
          'service_role: a batch of 3 returns inserted 3, duplicates 0, last_seq = the highest new seq');
select results_eq($$ select message from workflow_execution_logs where execution_id = 'pgtap-06-exec' order by seq $$,
                  $$ values ('one'), ('two'), ('three') $$, 'the batch is stored in array order');

insert into pgtap_06_results values ('retry', append_execution_logs(jsonb_build_array(
  pg_temp.entry('{"id": "00000006-0000-4000-8000-00000000f001", "message": "one"}'),
  pg_temp.entry('{"id": "00000006-0000-4000-8000-00000000f002", "message": "two"}'),
  pg_temp.entry('{"id": "00000006-0000-4000-8000-00000000f003", "message": "three"}'))));
select is((select result from pgtap_06_results where step = 'retry'),
          jsonb_build_object('inserted', 0, 'duplicates', 3, 'last_seq', (select result -> 'last_seq' from pgtap_06_results where step = 'first')),
          'retrying the same batch inserts nothing: duplicates 3, last_seq still the batch''s highest seq');
select is(pg_temp.log_count(), 3::bigint, 'the retry left 3 rows');

insert into pgtap_06_results values ('partial', append_execution_logs(jsonb_build_array(
  pg_temp.entry('{"id": "00000006-0000-4000-8000-00000000f002"}'),
  pg_temp.entry('{"id": "00000006-0000-4000-8000-00000000f004", "message": "four"}'),
  pg_temp.entry('{"id": "00000006-0000-4000-8000-00000000f001"}'))));
select is((select result from pgtap_06_results where step = 'partial'),
          jsonb_build_object('inserted', 1, 'duplicates', 2, 'last_seq',
            (select seq from workflow_execution_logs where id = '00000006-0000-4000-8000-00000000f004')),
          'a batch mixing old and new ids inserts only the new one');

insert into pgtap_06_results values ('same-id-twice', append_execution_logs(jsonb_build_array(
  pg_temp.entry('{"id": "00000006-0000-4000-8000-00000000f005", "message": "five"}'),
  pg_temp.entry('{"id": "00000006-0000-4000-8000-00000000f005", "message": "five again"}'))));
select is((select result - 'last_seq' from pgtap_06_results where step = 'same-id-twice'),
          '{"inserted": 1, "duplicates": 1}'::jsonb, 'the same id twice in one batch is inserted once');
select is((select count(*)::int from workflow_execution_logs where id = '00000006-0000-4000-8000-00000000f005'), 1,
          'the same id twice in one batch leaves one row');
select is((select (result ->> 'last_seq')::bigint from pgtap_06_results where step = 'same-id-twice'),
          (select seq from workflow_execution_logs where id = '00000006-0000-4000-8000-00000000f005'),
          'and last_seq is that row''s seq');

select is(append_execution_logs('[]'), '{"inserted": 0, "duplicates": 0, "last_seq": null}'::jsonb,
          'an empty batch inserts nothing');
select is(append_execution_logs(jsonb_build_array(pg_temp.entry(), pg_temp.entry())) -> 'inserted', '2'::jsonb,
          'entries without id are always new (1)');
select is(append_execution_logs(jsonb_build_array(pg_temp.entry(), pg_temp.entry())) -> 'inserted', '2'::jsonb,
          'entries without id are always new (2)');
select is(append_execution_logs(jsonb_build_array(pg_temp.entry('{"execution_id": "pgtap-06-exec-b"}'), pg_temp.entry()))
            -> 'inserted', '2'::jsonb, 'one batch may span several executions');

-- Accepted spellings and defaults.
select is(append_execution_logs(jsonb_build_array(pg_temp.entry(
            '{"id": "00000006-0000-4000-8000-00000000f010", "level": "info", "event_type": "STEP_STARTED",
              "log_category": "Business", "created_at": "2025-04-01T12:00:00+02:00"}'))) -> 'inserted', '1'::jsonb,
          'lowercase level, uppercase event_type, mixed-case category and created_at are accepted');
select is((select jsonb_build_object('level', level, 'event_type', event_type, 'log_category', log_category, 'created_at', created_at)
           from workflow_execution_logs where id = '00000006-0000-4000-8000-00000000f010'),
          jsonb_build_object('level', 'INFO', 'event_type', 'step_started', 'log_category', 'business',
                             'created_at', '2025-04-01T10:00:00Z'::timestamptz),
          'they are stored normalized, created_at as given');
select is((select to_jsonb(l) - array['id', 'seq', 'execution_id', 'event_type', 'message', 'created_at', 'expires_on', 'search_vector', 'workflow_id']
           from workflow_execution_logs l where id = '00000006-0000-4000-8000-00000000f001'),
          '{"log_category": "technical", "level": "INFO", "display_priority": 5, "is_milestone": false, "data": {},
            "technical_details": {}, "performance_metrics": {}, "node_id": null, "node_name": null, "node_type": null,
            "step_number": null, "total_steps": null, "progress_percentage": null, "duration_seconds": null,
            "user_friendly_message": null, "stack_trace": null}'::jsonb,
          'omitted fields take the table defaults');
select is(append_execution_logs(jsonb_build_array(pg_temp.entry(
            '{"id": "00000006-0000-4000-8000-00000000f011", "log_category": "business", "level": "ERROR",
              "event_type": "step_error", "message": "tech", "user_friendly_message": "friendly",
              "data": {"k": [1, 2]}, "node_id": "n1", "node_name": "Node 1", "node_type": "http",
              "step_number": 2, "total_steps": 4, "progress_percentage": 50.25, "duration_seconds": 7,
              "display_priority": 9, "is_milestone": true, "technical_details": {"code": 500},
              "stack_trace": "trace", "performance_metrics": {"ms": 12.5}, "created_at": "2025-04-01T10:00:00Z"}'))) -> 'inserted',
          '1'::jsonb, 'an entry with every field is accepted');
select is((select to_jsonb(l) - array['id', 'seq', 'execution_id', 'expires_on', 'search_vector', 'workflow_id'] from workflow_execution_logs l
           where id = '00000006-0000-4000-8000-00000000f011'),
          '{"log_category": "business", "level": "ERROR", "event_type": "step_error", "message": "tech",
            "user_friendly_message": "friendly", "data": {"k": [1, 2]}, "node_id": "n1", "node_name": "Node 1",
            "node_type": "http", "step_number": 2, "total_steps": 4, "progress_percentage": 50.25,
            "duration_seconds": 7, "display_priority": 9, "is_milestone": true, "technical_details": {"code": 500},
            "stack_trace": "trace", "performance_metrics": {"ms": 12.5}, "created_at": "2025-04-01T10:00:00+00:00"}'::jsonb
            || jsonb_build_object('created_at', '2025-04-01T10:00:00Z'::timestamptz),
          'every field is stored as given');
select is(append_execution_logs((select jsonb_agg(pg_temp.entry()) from generate_series(1, 5000))) -> 'inserted',
          '5000'::jsonb, 'a batch of exactly 5000 entries is accepted');

-- =============================================================================================
-- Bad input: nothing is written, the error names logs[i] and the field
-- =============================================================================================
create temporary table pgtap_06_before as select pg_temp.log_count() as n;

select matches(pg_temp.err($$ select append_execution_logs(jsonb_build_array(
                 pg_temp.entry('{"id": "00000006-0000-4000-8000-00000000f020"}'), pg_temp.entry(),
                 pg_temp.entry('{"level": "VERBOSE"}'))) $$),
               '^22023 logs\[2\]: level must be one of', 'unknown level: 22023 naming logs[2] and level');
select is(pg_temp.log_count(), (select n from pgtap_06_before), 'all or nothing: the two good entries before it were not written');
select is_empty($$ select 1 from workflow_execution_logs where id = '00000006-0000-4000-8000-00000000f020' $$,
                'all or nothing: the good entry with an id is not there');
select matches(pg_temp.err($$ select append_execution_logs('{"execution_id": "pgtap-06-exec"}') $$),
               '^22023 logs must be a JSON array', 'not an array: 22023');
select matches(pg_temp.err($$ select append_execution_logs(null) $$),
               '^22023 logs must be a JSON array', 'null: 22023');
select matches(pg_temp.err($$ select append_execution_logs((select jsonb_agg(pg_temp.entry()) from generate_series(1, 5001))) $$),
               '^22023 logs holds 5001 entries; one call accepts at most 5000', 'more than 5000 entries: 22023');
select matches(pg_temp.err($$ select append_execution_logs(jsonb_build_array(pg_temp.entry(), pg_temp.entry('{"event_type": "started"}'))) $$),
               '^22023 logs\[1\]: event_type must be one of', 'unknown event_type: 22023 naming logs[1] and event_type');
select matches(pg_temp.err($$ select append_execution_logs(jsonb_build_array(pg_temp.entry(), pg_temp.entry() - 'message')) $$),
               '^22023 logs\[1\]: message is required', 'missing message: 22023 naming logs[1] and message');
select matches(pg_temp.err($$ select append_execution_logs(jsonb_build_array(pg_temp.entry() - 'execution_id')) $$),
               '^22023 logs\[0\]: execution_id is required', 'missing execution_id: 22023 naming execution_id');
select matches(pg_temp.err($$ select append_execution_logs(jsonb_build_array(pg_temp.entry(), '42'::jsonb)) $$),
               '^22023 logs\[1\]: must be a JSON object', 'an entry that is not an object: 22023 naming logs[1]');
select matches(pg_temp.err($$ select append_execution_logs(jsonb_build_array(pg_temp.entry('{"display_priority": 11}'))) $$),
               '^22023 logs\[0\]: display_priority must be between 1 and 10', 'display_priority 11: 22023 naming display_priority');
select matches(pg_temp.err($$ select append_execution_logs(jsonb_build_array(pg_temp.entry('{"display_priority": 0}'))) $$),
               '^22023 logs\[0\]: display_priority', 'display_priority 0: 22023');
select matches(pg_temp.err($$ select append_execution_logs(jsonb_build_array(pg_temp.entry('{"progress_percentage": 101}'))) $$),
               '^22023 logs\[0\]: progress_percentage must be a number between 0 and 100', 'progress 101: 22023 naming progress_percentage');
select matches(pg_temp.err($$ select append_execution_logs(jsonb_build_array(pg_temp.entry('{"step_number": -1}'))) $$),
               '^22023 logs\[0\]: step_number', 'a negative step_number: 22023');
select matches(pg_temp.err($$ select append_execution_logs(jsonb_build_array(pg_temp.entry('{"data": [1, 2]}'))) $$),
               '^22023 logs\[0\]: data must be a JSON object', 'data not an object: 22023 naming data');
select matches(pg_temp.err($$ select append_execution_logs(jsonb_build_array(pg_temp.entry(),
                 pg_temp.entry(jsonb_build_object('message', repeat('x', 10241))))) $$),
               '^22001 logs\[1\]: entry is \d+ bytes; the limit is 10240', 'an entry over 10 KB: 22001 naming logs[1]');
select matches(pg_temp.err($$ select append_execution_logs(jsonb_build_array(
                 pg_temp.entry(jsonb_build_object('data', jsonb_build_object('blob', repeat('x', 10300)))))) $$),
               '^22001 logs\[0\]: entry is', 'an entry whose data is over 10 KB: 22001');
select matches(pg_temp.err($$ select append_execution_logs(jsonb_build_array(pg_temp.entry(),
                 pg_temp.entry('{"execution_id": "pgtap-06-nope"}'))) $$),
               '^23503 logs: execution pgtap-06-nope does not exist', 'an unknown execution: 23503 naming it');
select matches(pg_temp.err($$ select append_execution_logs(jsonb_build_array(pg_temp.entry('{"id": "not-a-uuid"}'))) $$),
               '^22023 logs\[0\]: id must be a UUID', 'a non-uuid id: 22023 naming id');
select matches(pg_temp.err($$ select append_execution_logs(jsonb_build_array(pg_temp.entry('{"created_at": "last tuesday-ish"}'))) $$),
               '^22023 logs\[0\]: created_at must be an ISO 8601 timestamp', 'an unparseable created_at: 22023 naming created_at');
select is(pg_temp.log_count(), (select n from pgtap_06_before), 'none of the rejected batches wrote anything');

-- Entries that the insert itself would take (jsonb_to_recordset ignores unknown keys and coerces
-- "yes" to a boolean; the table counts the defaulted '{}' objects in the 10 KB limit) must still be
-- judged by the documented rules.
select matches(pg_temp.err($$ select append_execution_logs(jsonb_build_array(pg_temp.entry('{"foo": 1}'))) $$),
               '^22023 logs\[0\]: unknown field ''foo''', 'unknown field: 22023 naming logs[0] and the field');
select matches(pg_temp.err($$ select append_execution_logs(jsonb_build_array(pg_temp.entry('{"is_milestone": "yes"}'))) $$),
               '^22023 logs\[0\]: is_milestone', 'a non-boolean is_milestone: 22023 naming is_milestone');
select matches(pg_temp.err($$ select append_execution_logs(jsonb_build_array(pg_temp.entry('{"node_id": 12}'))) $$),
               '^22023 logs\[0\]: node_id must be a string', 'a number as node_id is not coerced to text: 22023 naming node_id');
select matches(pg_temp.err($$ select append_execution_logs(jsonb_build_array(pg_temp.entry('{"display_priority": "7"}'))) $$),
               '^22023 logs\[0\]: display_priority must be an integer', 'a string display_priority is not coerced: 22023');
select matches(pg_temp.err($$ select append_execution_logs(jsonb_build_array(pg_temp.entry('{"step_number": 2.5}'))) $$),
               '^22023 logs\[0\]: step_number must be an integer', 'a fractional step_number is not rounded: 22023');
select matches(coalesce(pg_temp.err($$ select append_execution_logs(jsonb_build_array(
                 pg_temp.entry(jsonb_build_object('message', repeat('x', 10240))))) $$), 'accepted'),
               '^(accepted|22001 logs\[0\]: entry is .*)$',
          'an entry at exactly 10240 bytes by the documented measure is accepted or rejected with 22001 naming logs[0], never a bare check violation');
reset role;

select * from finish();
rollback;
