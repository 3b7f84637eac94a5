-- get_execution_logs: response shape, order, limit/offset edges, cursor paging, every filter (with
-- total_count checked against a brute-force count under the same RLS), and who may call it.
begin;
set local search_path = public, extensions;
select plan(67);

-- =============================================================================================
-- Fixtures (as postgres)
-- =============================================================================================
insert into auth.users (id, aud, role, email) values
  ('00000003-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'owner-03@example.com'),
  ('00000003-0000-4000-8000-000000000002', 'authenticated', 'authenticated', 'other-03@example.com');
insert into public.workflows (id, user_id, name) values
  ('00000003-0000-4000-8000-0000000000a1', '00000003-0000-4000-8000-000000000001', 'owner workflow 03');
insert into public.workflow_executions (execution_id, workflow_id, status, start_time) values
  ('pgtap-03-exec', '00000003-0000-4000-8000-0000000000a1', 'RUNNING', '2025-01-10T00:00:00Z'),
  ('pgtap-03-empty', '00000003-0000-4000-8000-0000000000a1', 'NEW', '2025-01-10T00:00:00Z');

-- 30 logs whose attributes cycle with different periods, so every filter and combination of two
-- selects a different non-empty subset; created one minute apart from 2025-01-10T00:01:00Z.
insert into public.workflow_execution_logs
  (id, execution_id, log_category, event_type, level, message, user_friendly_message, data,
   node_id, node_name, step_number, total_steps, is_milestone, display_priority, created_at)
select ('00000003-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid,
       'pgtap-03-exec',
       case when i % 3 = 0 then 'business' else 'technical' end,
       (enum_range(null::public.log_event_type_enum))[i % 9 + 1],
       (array['DEBUG', 'INFO', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'])[i % 6 + 1]::public.log_level_enum,
       'technical ' || i,
       case when i % 2 = 0 then 'friendly ' || i end,
       jsonb_build_object('i', i),
       case when i % 4 <> 0 then 'node-' || (i % 4) end,
       case when i % 4 <> 0 then 'Node ' || (i % 4) end,
       case when i % 4 <> 0 then i % 4 end,
       case when i % 4 <> 0 then 3 end,
       i % 7 = 0,
       i % 10 + 1,
       '2025-01-10T00:00:00Z'::timestamptz + i * interval '1 minute'
from generate_series(1, 30) i;
-- A 31st log written last but stamped an hour earlier: order is by seq (write order), not created_at.
insert into public.workflow_execution_logs (id, execution_id, event_type, level, message, created_at)
values ('00000003-0000-4000-8000-000000000031', 'pgtap-03-exec', 'separator', 'INFO', 'late but early',
        '2025-01-09T23:00:00Z');

-- Ids of a response's logs, in response order.
create function pg_temp.ids(response jsonb) returns setof uuid
language sql immutable
as $$ select (e ->> 'id')::uuid from jsonb_array_elements(response -> 'logs') with ordinality x(e, n) order by n $$;
-- One LogEntry of a response by id.
create function pg_temp.entry(response jsonb, log_id text) returns jsonb
language sql immutable
as $$ select e from jsonb_array_elements(response -> 'logs') e where e ->> 'id' = log_id $$;
grant execute on function pg_temp.ids(jsonb), pg_temp.entry(jsonb, text) to public;

-- =============================================================================================
-- As the owner
-- =============================================================================================
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"00000003-0000-4000-8000-000000000001","role":"authenticated"}', true);

-- ---------------------------------------------------------------------------------------------
-- Shape
-- ---------------------------------------------------------------------------------------------
select is(array(select jsonb_object_keys(get_execution_logs('pgtap-03-exec')::jsonb) order by 1),
          array['execution_id', 'logs', 'pagination', 'total_count'],
          'response has exactly execution_id, logs, total_count, pagination');
select is(get_execution_logs('pgtap-03-exec')::jsonb -> 'pagination',
          jsonb_build_object('limit', 100, 'offset', 0, 'has_more', false,
                             'next_cursor', (select max(seq) from workflow_execution_logs where execution_id = 'pgtap-03-exec')),
          'pagination is {limit 100, offset 0, has_more false, next_cursor = last seq} by default');
select is(get_execution_logs('pgtap-03-exec')::jsonb ->> 'execution_id', 'pgtap-03-exec', 'execution_id is echoed');
select is((get_execution_logs('pgtap-03-exec')::jsonb ->> 'total_count')::int, 31, 'total_count counts every log');
select is(jsonb_array_length(get_execution_logs('pgtap-03-exec')::jsonb -> 'logs'), 31, 'all 31 logs fit the default page');

select ok(pg_temp.entry(get_execution_logs('pgtap-03-exec')::jsonb, '00000003-0000-4000-8000-000000000031')
            ?& array['id', 'timestamp', 'event_type', 'message', 'level', 'data'],
          'a LogEntry has id, timestamp, event_type, message, level, data');
select is((select array_agg(k order by k)
           from jsonb_each(pg_temp.entry(get_execution_logs('pgtap-03-exec')::jsonb, '00000003-0000-4000-8000-000000000031')) x(k, v)
           where jsonb_typeof(v) = 'null'),
          array['duration_seconds', 'node_id', 'node_name', 'node_type', 'progress_percentage', 'stack_trace',
                'step_number', 'technical_message', 'total_steps'],
          'optional LogEntry fields are null when the row does not set them');
select is(pg_temp.entry(get_execution_logs('pgtap-03-exec')::jsonb, '00000003-0000-4000-8000-000000000031')
            -> 'technical_details', '{}'::jsonb, 'technical_details is an object, empty when unset');
select is(pg_temp.entry(get_execution_logs('pgtap-03-exec')::jsonb, '00000003-0000-4000-8000-000000000002')
            - array['id', 'seq', 'timestamp'],
          '{"event_type": "workflow_progress", "message": "friendly 2", "technical_message": "technical 2", "level": "info",
            "data": {"i": 2}, "log_category": "technical", "display_priority": 3, "is_milestone": false,
            "node_id": "node-2", "node_name": "Node 2", "step_number": 2, "total_steps": 3, "node_type": null,
            "progress_percentage": null, "duration_seconds": null, "stack_trace": null,
            "technical_details": {}, "performance_metrics": {}}'::jsonb,
          'a full LogEntry: user_friendly_message as message, the technical one kept, node fields present');
select is(pg_temp.entry(get_execution_logs('pgtap-03-exec')::jsonb, '00000003-0000-4000-8000-000000000001') ->> 'message',
          'technical 1', 'message falls back to message when user_friendly_message is null');
select is(pg_temp.entry(get_execution_logs('pgtap-03-exec')::jsonb, '00000003-0000-4000-8000-000000000001') -> 'technical_message',
          'null'::jsonb, 'technical_message is null when there is no user_friendly_message');
select is_empty(
  $$ select 1 from jsonb_array_elements(get_execution_logs('pgtap-03-exec')::jsonb -> 'logs') e
     where e ->> 'level' <> lower(e ->> 'level') or e ->> 'level' not in ('debug', 'info', 'warning', 'error', 'critical') $$,
  'every level is lowercase');
select is_empty(
  $$ select 1
     from jsonb_array_elements(get_execution_logs('pgtap-03-exec')::jsonb -> 'logs') e
     join workflow_execution_logs l on l.id = (e ->> 'id')::uuid
     where e ->> 'timestamp' !~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$'
        or (e ->> 'timestamp')::timestamptz <> l.created_at
        or (e ->> 'seq')::bigint <> l.seq
        or e -> 'data' <> l.data $$,
  'every timestamp is ISO 8601 and equals created_at; seq and data are the row''s');
select results_eq(
  $$ select pg_temp.ids(get_execution_logs('pgtap-03-exec')::jsonb) $$,
  $$ select id from workflow_execution_logs where execution_id = 'pgtap-03-exec' order by seq $$,
  'logs come in seq order (the late-written, early-stamped log is last)');
select is(get_execution_logs('pgtap-03-empty')::jsonb,
          '{"execution_id": "pgtap-03-empty", "logs": [], "total_count": 0,
            "pagination": {"limit": 100, "offset": 0, "has_more": false, "next_cursor": null}}'::jsonb,
          'an execution without logs gives an empty page');

-- ---------------------------------------------------------------------------------------------
-- limit / offset edges
-- ---------------------------------------------------------------------------------------------
select is(jsonb_array_length(get_execution_logs('pgtap-03-exec', 1)::jsonb -> 'logs'), 1, 'limit 1 returns one log');
select is(get_execution_logs('pgtap-03-exec', 1)::jsonb -> 'pagination',
          jsonb_build_object('limit', 1, 'offset', 0, 'has_more', true,
                             'next_cursor', (select min(seq) from workflow_execution_logs where execution_id = 'pgtap-03-exec')),
          'limit 1: has_more true, next_cursor is the first seq');
select is(jsonb_array_length(get_execution_logs('pgtap-03-exec', 1000)::jsonb -> 'logs'), 31, 'limit 1000 returns everything');
select is((get_execution_logs('pgtap-03-exec', 1000)::jsonb -> 'pagination' ->> 'has_more')::boolean, false,
          'limit 1000: has_more false');
select results_eq(
  $$ select pg_temp.ids(get_execution_logs('pgtap-03-exec', 5, 10)::jsonb) $$,
  $$ select id from workflow_execution_logs where execution_id = 'pgtap-03-exec' order by seq limit 5 offset 10 $$,
  'limit 5 offset 10 returns rows 11..15');
select is((get_execution_logs('pgtap-03-exec', 5, 10)::jsonb -> 'pagination' ->> 'has_more')::boolean, true,
          'limit 5 offset 10: has_more true');
select is(jsonb_array_length(get_execution_logs('pgtap-03-exec', 10, 29)::jsonb -> 'logs'), 2, 'offset 29 of 31 returns the last 2');
select is((get_execution_logs('pgtap-03-exec', 10, 29)::jsonb -> 'pagination' ->> 'has_more')::boolean, false,
          'offset 29: has_more false');
select is((get_execution_logs('pgtap-03-exec', 10, 26)::jsonb -> 'pagination' ->> 'has_more')::boolean, false,
          'a page ending exactly at the last log: has_more false');
select is(get_execution_logs('pgtap-03-exec', 10, 100)::jsonb -> 'logs', '[]'::jsonb, 'offset past the end: no logs');
select is((get_execution_logs('pgtap-03-exec', 10, 100)::jsonb -> 'pagination' ->> 'has_more')::boolean, false,
          'offset past the end: has_more false');
select is((get_execution_logs('pgtap-03-exec', 10, 100)::jsonb ->> 'total_count')::int, 31,
          'offset past the end: total_count still counts every log');

-- ---------------------------------------------------------------------------------------------
-- Cursor paging: after = next_cursor walks every row exactly once
-- ---------------------------------------------------------------------------------------------
create temporary view pgtap_03_pages as
with recursive pages(n, r) as (
  select 1, public.get_execution_logs('pgtap-03-exec', 7)::jsonb
  union all
  select n + 1, public.get_execution_logs('pgtap-03-exec', 7, after => (r -> 'pagination' ->> 'next_cursor')::bigint)::jsonb
  from pages
  where (r -> 'pagination' ->> 'has_more')::boolean and n < 50
)
select n, r from pages;

select results_eq(
  $$ select (e ->> 'id')::uuid from pgtap_03_pages p, jsonb_array_elements(p.r -> 'logs') with ordinality x(e, k)
     order by p.n, x.k $$,
  $$ select id from workflow_execution_logs where execution_id = 'pgtap-03-exec' order by seq $$,
  'cursor paging (limit 7) visits every log exactly once, in seq order');
select is((select count(*)::int from pgtap_03_pages), 5, 'cursor paging: 31 logs in pages of 7 take 5 pages');
select is((select (r -> 'pagination' ->> 'has_more')::boolean from pgtap_03_pages order by n desc limit 1), false,
          'cursor paging: has_more is false on the last page');
select is((select (r -> 'pagination' ->> 'has_more')::boolean from pgtap_03_pages where n = 4), true,
          'cursor paging: has_more is true on the page before');
select is((select (r -> 'pagination' ->> 'next_cursor')::bigint from pgtap_03_pages order by n desc limit 1),
          (select max(seq) from workflow_execution_logs where execution_id = 'pgtap-03-exec'),
          'cursor paging: the last page''s next_cursor is the last seq');
select is(get_execution_logs('pgtap-03-exec', 7,
            after => (select max(seq) from workflow_execution_logs where execution_id = 'pgtap-03-exec'))::jsonb - 'total_count',
          jsonb_build_object('execution_id', 'pgtap-03-exec', 'logs', '[]'::jsonb, 'pagination',
            jsonb_build_object('limit', 7, 'offset', 0, 'has_more', false,
                               'next_cursor', (select max(seq) from workflow_execution_logs where execution_id = 'pgtap-03-exec'))),
          'after the last seq: no logs, has_more false, next_cursor stays at the last seq');
select results_eq(
  $$ select pg_temp.ids(get_execution_logs('pgtap-03-exec', 1000, level => 'INFO',
       after => (select seq from workflow_execution_logs where id = '00000003-0000-4000-8000-000000000013'))::jsonb) $$,
  $$ select id from workflow_execution_logs
     where execution_id = 'pgtap-03-exec' and level = 'INFO'
       and seq > (select seq from workflow_execution_logs where id = '00000003-0000-4000-8000-000000000013')
     order by seq $$,
  'after combines with a filter: only matching logs after the cursor');
select is((get_execution_logs('pgtap-03-exec', 1, level => 'INFO',
             after => (select seq from workflow_execution_logs where id = '00000003-0000-4000-8000-000000000025'))::jsonb
           -> 'pagination' ->> 'has_more')::boolean, true,
          'after + filter: has_more sees the matching log still ahead');

-- ---------------------------------------------------------------------------------------------
-- Filters: total_count and the rows themselves against a brute-force query
-- ---------------------------------------------------------------------------------------------
-- level (case-insensitive)
select is((get_execution_logs('pgtap-03-exec', 1000, level => 'error')::jsonb ->> 'total_count')::int,
          (select count(*)::int from workflow_execution_logs where execution_id = 'pgtap-03-exec' and level = 'ERROR'),
          'level=error: total_count matches a brute-force count');
select results_eq($$ select pg_temp.ids(get_execution_logs('pgtap-03-exec', 1000, level => 'error')::jsonb) $$,
                  $$ select id from workflow_execution_logs where execution_id = 'pgtap-03-exec' and level = 'ERROR' order by seq $$,
                  'level=error (lowercase): exactly the ERROR logs');
select results_eq($$ select pg_temp.ids(get_execution_logs('pgtap-03-exec', 1000, level => 'Warning')::jsonb) $$,
                  $$ select id from workflow_execution_logs where execution_id = 'pgtap-03-exec' and level = 'WARNING' order by seq $$,
                  'level=Warning (mixed case): exactly the WARNING logs');
-- category
select is((get_execution_logs('pgtap-03-exec', 1000, category => 'business')::jsonb ->> 'total_count')::int,
          (select count(*)::int from workflow_execution_logs where execution_id = 'pgtap-03-exec' and log_category = 'business'),
          'category=business: total_count matches');
select results_eq($$ select pg_temp.ids(get_execution_logs('pgtap-03-exec', 1000, category => 'business')::jsonb) $$,
                  $$ select id from workflow_execution_logs where execution_id = 'pgtap-03-exec' and log_category = 'business' order by seq $$,
                  'category=business: exactly the business logs');
-- node_id
select is((get_execution_logs('pgtap-03-exec', 1000, node_id => 'node-1')::jsonb ->> 'total_count')::int,
          (select count(*)::int from workflow_execution_logs where execution_id = 'pgtap-03-exec' and node_id = 'node-1'),
          'node_id=node-1: total_count matches');
select results_eq($$ select pg_temp.ids(get_execution_logs('pgtap-03-exec', 1000, node_id => 'node-1')::jsonb) $$,
                  $$ select id from workflow_execution_logs where execution_id = 'pgtap-03-exec' and node_id = 'node-1' order by seq $$,
                  'node_id=node-1: exactly that node''s logs');
select is(get_execution_logs('pgtap-03-exec', 1000, node_id => 'node-none')::jsonb - 'execution_id' - 'pagination',
          '{"logs": [], "total_count": 0}'::jsonb, 'an unknown node_id: no logs, total_count 0');
-- event_type (case-insensitive)
select is((get_execution_logs('pgtap-03-exec', 1000, event_type => 'STEP_COMPLETED')::jsonb ->> 'total_count')::int,
          (select count(*)::int from workflow_execution_logs where execution_id = 'pgtap-03-exec' and event_type = 'step_completed'),
          'event_type=STEP_COMPLETED: total_count matches');
select results_eq($$ select pg_temp.ids(get_execution_logs('pgtap-03-exec', 1000, event_type => 'step_completed')::jsonb) $$,
                  $$ select id from workflow_execution_logs where execution_id = 'pgtap-03-exec' and event_type = 'step_completed' order by seq $$,
                  'event_type=step_completed: exactly those logs');
-- milestones_only
select is((get_execution_logs('pgtap-03-exec', 1000, milestones_only => true)::jsonb ->> 'total_count')::int,
          (select count(*)::int from workflow_execution_logs where execution_id = 'pgtap-03-exec' and is_milestone),
          'milestones_only: total_count matches');
select results_eq($$ select pg_temp.ids(get_execution_logs('pgtap-03-exec', 1000, milestones_only => true)::jsonb) $$,
                  $$ select id from workflow_execution_logs where execution_id = 'pgtap-03-exec' and is_milestone order by seq $$,
                  'milestones_only: exactly the milestones');
-- min_priority
select is((get_execution_logs('pgtap-03-exec', 1000, min_priority => 8)::jsonb ->> 'total_count')::int,
          (select count(*)::int from workflow_execution_logs where execution_id = 'pgtap-03-exec' and display_priority >= 8),
          'min_priority=8: total_count matches');
select results_eq($$ select pg_temp.ids(get_execution_logs('pgtap-03-exec', 1000, min_priority => 8)::jsonb) $$,
                  $$ select id from workflow_execution_logs where execution_id = 'pgtap-03-exec' and display_priority >= 8 order by seq $$,
                  'min_priority=8: exactly the logs with display_priority >= 8');
-- start_time / end_time (inclusive, any ISO 8601 offset)
select is((get_execution_logs('pgtap-03-exec', 1000, start_time => '2025-01-10T00:05:00Z', end_time => '2025-01-10T00:10:00Z')::jsonb
           ->> 'total_count')::int, 6,
          'start_time..end_time is inclusive at both ends (00:05..00:10 holds 6 logs)');
select results_eq(
  $$ select pg_temp.ids(get_execution_logs('pgtap-03-exec', 1000, start_time => '2025-01-10T01:05:00+01:00',
                                           end_time => '2025-01-10T00:10:00.000Z')::jsonb) $$,
  $$ select id from workflow_execution_logs where execution_id = 'pgtap-03-exec'
       and created_at between '2025-01-10T00:05:00Z' and '2025-01-10T00:10:00Z' order by seq $$,
  'start_time/end_time with an offset select the same window');
select is((get_execution_logs('pgtap-03-exec', 1000, start_time => '2025-01-10T00:25:00Z')::jsonb ->> 'total_count')::int,
          (select count(*)::int from workflow_execution_logs where execution_id = 'pgtap-03-exec' and created_at >= '2025-01-10T00:25:00Z'),
          'start_time only: total_count matches');
select results_eq($$ select pg_temp.ids(get_execution_logs('pgtap-03-exec', 1000, end_time => '2025-01-10T00:03:00Z')::jsonb) $$,
                  $$ select id from workflow_execution_logs where execution_id = 'pgtap-03-exec' and created_at <= '2025-01-10T00:03:00Z' order by seq $$,
                  'end_time only: the early logs, including the early-stamped late one');
select is((get_execution_logs('pgtap-03-exec', 1000, start_time => '2025-01-10T00:10:00Z', end_time => '2025-01-10T00:10:00Z')::jsonb
           ->> 'total_count')::int, 1, 'start_time = end_time selects the log at that instant');
-- combinations
select is((get_execution_logs('pgtap-03-exec', 1000, node_id => 'node-2', level => 'Info')::jsonb ->> 'total_count')::int,
          (select count(*)::int from workflow_execution_logs where execution_id = 'pgtap-03-exec' and node_id = 'node-2' and level = 'INFO'),
          'node_id + level (scan path): total_count matches');
select results_eq($$ select pg_temp.ids(get_execution_logs('pgtap-03-exec', 1000, node_id => 'node-2', level => 'info')::jsonb) $$,
                  $$ select id from workflow_execution_logs where execution_id = 'pgtap-03-exec' and node_id = 'node-2' and level = 'INFO' order by seq $$,
                  'node_id + level: exactly those logs');
select is((get_execution_logs('pgtap-03-exec', 2, node_id => 'node-2', level => 'info')::jsonb -> 'pagination' ->> 'has_more')::boolean,
          true, 'node_id + level, limit 2 of 3: has_more true');
select is((get_execution_logs('pgtap-03-exec', 1000, category => 'business', level => 'warning')::jsonb ->> 'total_count')::int,
          (select count(*)::int from workflow_execution_logs where execution_id = 'pgtap-03-exec' and log_category = 'business' and level = 'WARNING'),
          'category + level: total_count matches');
select is((get_execution_logs('pgtap-03-exec', 1000, event_type => 'step_error', milestones_only => true)::jsonb ->> 'total_count')::int,
          (select count(*)::int from workflow_execution_logs where execution_id = 'pgtap-03-exec' and event_type = 'step_error' and is_milestone),
          'event_type + milestones_only: total_count matches');
select is((get_execution_logs('pgtap-03-exec', 1000, category => 'technical', min_priority => 6)::jsonb ->> 'total_count')::int,
          (select count(*)::int from workflow_execution_logs where execution_id = 'pgtap-03-exec' and log_category = 'technical' and display_priority >= 6),
          'category + min_priority: total_count matches');
select is((get_execution_logs('pgtap-03-exec', 1000, node_id => 'node-3', start_time => '2025-01-10T00:10:00Z')::jsonb ->> 'total_count')::int,
          (select count(*)::int from workflow_execution_logs where execution_id = 'pgtap-03-exec' and node_id = 'node-3' and created_at >= '2025-01-10T00:10:00Z'),
          'node_id + start_time: total_count matches');
select results_eq(
  $$ select pg_temp.ids(get_execution_logs('pgtap-03-exec', 2, 1, level => 'info', category => 'technical')::jsonb) $$,
  $$ select id from workflow_execution_logs where execution_id = 'pgtap-03-exec' and level = 'INFO' and log_category = 'technical'
     order by seq limit 2 offset 1 $$,
  'filters combine with limit/offset');

-- ---------------------------------------------------------------------------------------------
-- Nonexistent execution (as the owner): P0002
-- ---------------------------------------------------------------------------------------------
select throws_ok($$ select get_execution_logs('pgtap-03-nope')::jsonb $$, 'P0002', 'execution pgtap-03-nope not found',
                 'owner: an unknown execution raises P0002');

-- =============================================================================================
-- Another user: the owner's execution does not exist for them
-- =============================================================================================
select set_config('request.jwt.claims',
  '{"sub":"00000003-0000-4000-8000-000000000002","role":"authenticated"}', true);
select throws_ok($$ select get_execution_logs('pgtap-03-exec')::jsonb $$, 'P0002', 'execution pgtap-03-exec not found',
                 'other user: the owner''s execution raises P0002, exactly like a nonexistent one');
select throws_ok($$ select get_execution_logs('pgtap-03-exec', after => 0, level => 'info')::jsonb $$, 'P0002', 'execution pgtap-03-exec not found',
                 'other user: P0002 with a cursor and a filter too');

-- =============================================================================================
-- anon: may not call it
-- =============================================================================================
reset role;
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok($$ select get_execution_logs('pgtap-03-exec')::jsonb $$, '42501', null, 'anon: permission denied');

-- =============================================================================================
-- service_role: reads any execution
-- =============================================================================================
reset role;
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select is((get_execution_logs('pgtap-03-exec', 1000)::jsonb ->> 'total_count')::int, 31, 'service_role: reads the execution');
reset role;

select * from finish();
rollback;
