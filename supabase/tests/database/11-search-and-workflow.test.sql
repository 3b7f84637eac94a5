-- Search (q, order, highlight), get_workflow_logs and get_workflow_stats: results checked against
-- brute-force queries, cursor walks across executions, and who may call them (owner, other user, anon,
-- service_role), plus bad input.
begin;
set local search_path = public, extensions;
select plan(54);

-- =============================================================================================
-- Fixtures (as postgres)
-- =============================================================================================
insert into auth.users (id, aud, role, email) values
  ('00000011-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'owner-11@example.com'),
  ('00000011-0000-4000-8000-000000000002', 'authenticated', 'authenticated', 'other-11@example.com');
insert into public.workflows (id, user_id, name) values
  ('00000011-0000-4000-8000-0000000000a1', '00000011-0000-4000-8000-000000000001', 'owner workflow 11'),
  ('00000011-0000-4000-8000-0000000000a2', '00000011-0000-4000-8000-000000000001', 'empty workflow 11'),
  ('00000011-0000-4000-8000-0000000000b1', '00000011-0000-4000-8000-000000000002', 'other workflow 11');
insert into public.workflow_executions (execution_id, workflow_id, status, start_time, end_time) values
  ('pgtap-11-a', '00000011-0000-4000-8000-0000000000a1', 'SUCCESS', '2025-02-01T00:00:00Z', '2025-02-01T00:10:00Z'),
  ('pgtap-11-b', '00000011-0000-4000-8000-0000000000a1', 'ERROR',   '2025-02-02T00:00:00Z', '2025-02-02T00:20:00Z'),
  ('pgtap-11-c', '00000011-0000-4000-8000-0000000000a1', 'RUNNING', '2025-02-03T00:00:00Z', null),
  ('pgtap-11-old', '00000011-0000-4000-8000-0000000000a1', 'TIMEOUT', '2024-12-01T00:00:00Z', '2024-12-01T01:00:00Z'),
  ('pgtap-11-x', '00000011-0000-4000-8000-0000000000b1', 'SUCCESS', '2025-02-01T00:00:00Z', '2025-02-01T00:05:00Z');

-- Executions a and b interleave (written in turns), c follows; x belongs to another user and says the
-- same words. Every 4th log of a/b is an ERROR "database timeout"; every 5th has a friendly message.
insert into public.workflow_execution_logs
  (execution_id, event_type, level, message, user_friendly_message, node_id, node_name, duration_seconds, created_at)
select (array['pgtap-11-a', 'pgtap-11-b'])[i % 2 + 1],
       (case when i % 4 = 0 then 'step_error' else 'step_output' end)::public.log_event_type_enum,
       case when i % 4 = 0 then 'ERROR' else 'INFO' end::public.log_level_enum,
       case when i % 4 = 0 then 'database timeout on query ' || (i % 3) else 'step ' || i || ' processed rows' end,
       case when i % 5 = 0 then 'Still working on <your> report' end,
       'node-' || (i % 3), 'Node ' || (i % 3), i % 3 * 10,
       '2025-02-01T00:00:00Z'::timestamptz + i * interval '1 minute'
from generate_series(1, 40) i;
insert into public.workflow_execution_logs (execution_id, event_type, level, message, created_at)
select 'pgtap-11-c', 'step_output', 'INFO', 'later step ' || i || ' processed rows', '2025-02-03T00:00:00Z'::timestamptz + i * interval '1 minute'
from generate_series(1, 10) i;
insert into public.workflow_execution_logs (execution_id, event_type, level, message) values
  ('pgtap-11-old', 'step_error', 'CRITICAL', 'database timeout on query 0'),
  ('pgtap-11-x', 'step_error', 'ERROR', 'database timeout secret of another user');

-- Seqs of a response's logs, in response order.
create function pg_temp.seqs(response jsonb) returns bigint[]
language sql immutable
as $$ select coalesce(array_agg((e ->> 'seq')::bigint order by n), '{}') from jsonb_array_elements(response -> 'logs') with ordinality x(e, n) $$;
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
-- Walks get_workflow_logs by cursor with a page size and returns every seq in order.
create function pg_temp.walk(workflow text, page integer, query text default null) returns bigint[]
language plpgsql
as $$
declare
  cursor_seq bigint;
  response jsonb;
  found bigint[] := '{}';
begin
  loop
    response := public.get_workflow_logs(workflow, page, after => cursor_seq, q => query)::jsonb;
    found := found || pg_temp.seqs(response);
    exit when not (response -> 'pagination' ->> 'has_more')::boolean;
    cursor_seq := (response -> 'pagination' ->> 'next_cursor')::bigint;
  end loop;
  return found;
end;
$$;
grant execute on function pg_temp.seqs(jsonb), pg_temp.err(text), pg_temp.walk(text, integer, text) to public;

-- =============================================================================================
-- As the owner
-- =============================================================================================
set local role authenticated;
select set_config('request.jwt.claims', '{"sub":"00000011-0000-4000-8000-000000000001","role":"authenticated"}', true);

-- ---------------------------------------------------------------------------------------------
-- Search on one execution
-- ---------------------------------------------------------------------------------------------
select is(pg_temp.seqs(get_execution_logs('pgtap-11-a', q => 'timeout')::jsonb),
          (select array_agg(seq order by seq) from workflow_execution_logs
           where execution_id = 'pgtap-11-a' and message like '%timeout%'),
          'q finds exactly the logs whose message holds the word, in seq order');
select is((get_execution_logs('pgtap-11-a', q => 'timeout')::jsonb ->> 'total_count')::int,
          (select count(*)::int from workflow_execution_logs where execution_id = 'pgtap-11-a' and message like '%timeout%'),
          'total_count counts the matches');
select is(pg_temp.seqs(get_execution_logs('pgtap-11-a', q => 'report')::jsonb),
          (select array_agg(seq order by seq) from workflow_execution_logs
           where execution_id = 'pgtap-11-a' and user_friendly_message is not null),
          'q searches user_friendly_message too');
select is(pg_temp.seqs(get_execution_logs('pgtap-11-a', q => '"timeout on query"')::jsonb),
          (select array_agg(seq order by seq) from workflow_execution_logs
           where execution_id = 'pgtap-11-a' and message like '%timeout on query%'),
          'a quoted phrase matches the words in order');
select is(pg_temp.seqs(get_execution_logs('pgtap-11-a', q => 'on query -timeout')::jsonb), '{}'::bigint[],
          '-word excludes the logs holding it');
select is(pg_temp.seqs(get_execution_logs('pgtap-11-a', q => 'TIMEOUT', level => 'info')::jsonb), '{}'::bigint[],
          'q combines with the other filters (no INFO log says timeout); case does not matter');
select is(pg_temp.seqs(get_execution_logs('pgtap-11-a', q => 'rows', "limit" => 3, after =>
            (pg_temp.seqs(get_execution_logs('pgtap-11-a', q => 'rows', "limit" => 3)::jsonb))[3])::jsonb),
          (select array_agg(seq order by seq) from (select seq from workflow_execution_logs
           where execution_id = 'pgtap-11-a' and message like '%rows%' order by seq offset 3 limit 3) x),
          'a search pages by cursor');
select is(get_execution_logs('pgtap-11-a', q => '   ')::jsonb, get_execution_logs('pgtap-11-a')::jsonb,
          'a blank q is no filter (and adds no highlight)');
select ok(not exists (select 1 from jsonb_array_elements(get_execution_logs('pgtap-11-a')::jsonb -> 'logs') e where e ? 'highlight'),
          'without q, entries have no highlight key');
select is((select e -> 'highlight' from jsonb_array_elements(get_execution_logs('pgtap-11-a', q => 'report')::jsonb -> 'logs') e
           where e ->> 'technical_message' is not null limit 1),
          (select jsonb_build_object('message', 'Still working on &lt;your&gt; <mark>report</mark>',
                                     'technical_message', message)
           from workflow_execution_logs where execution_id = 'pgtap-11-a' and user_friendly_message is not null order by seq limit 1),
          'highlight marks the match with <mark>, escapes the text, and gives the technical message unmarked when it does not match');
select is((select count(*)::int from jsonb_array_elements(get_execution_logs('pgtap-11-a', q => 'timeout')::jsonb -> 'logs') e
           where coalesce(e -> 'highlight' ->> 'technical_message', e -> 'highlight' ->> 'message') like '%<mark>timeout</mark>%'),
          (select count(*)::int from workflow_execution_logs where execution_id = 'pgtap-11-a' and message like '%timeout%'),
          'every returned match has its word highlighted (in the technical message when a friendly one is shown)');

-- order = rank
select is(jsonb_array_length(get_execution_logs('pgtap-11-a', q => 'timeout or rows', "order" => 'rank')::jsonb -> 'logs'),
          20, 'rank mode returns every match of an or-query');
select is((get_execution_logs('pgtap-11-a', q => 'database timeout query', "order" => 'rank', "limit" => 1)::jsonb -> 'logs' -> 0 ->> 'level'),
          'error', 'rank mode puts the log holding every word first');
select is(get_execution_logs('pgtap-11-a', q => 'rows', "order" => 'rank', "limit" => 2)::jsonb -> 'pagination',
          '{"limit": 2, "offset": 0, "has_more": true, "next_cursor": null}'::jsonb,
          'rank mode: has_more, no cursor');
select is(pg_temp.seqs(get_execution_logs('pgtap-11-a', q => 'rows', "order" => 'rank', "limit" => 5, "offset" => 5)::jsonb),
          (pg_temp.seqs(get_execution_logs('pgtap-11-a', q => 'rows', "order" => 'rank', "limit" => 100)::jsonb))[6:10],
          'rank mode pages by offset');

-- ---------------------------------------------------------------------------------------------
-- get_workflow_logs
-- ---------------------------------------------------------------------------------------------
select is(pg_temp.seqs(get_workflow_logs('00000011-0000-4000-8000-0000000000a1', "limit" => 1000)::jsonb),
          (select array_agg(l.seq order by l.seq) from workflow_execution_logs l
           join workflow_executions we using (execution_id) where we.workflow_id = '00000011-0000-4000-8000-0000000000a1'),
          'every log of every execution of the workflow, in seq order');
select is(pg_temp.walk('00000011-0000-4000-8000-0000000000a1', 3),
          (select array_agg(l.seq order by l.seq) from workflow_execution_logs l
           join workflow_executions we using (execution_id) where we.workflow_id = '00000011-0000-4000-8000-0000000000a1'),
          'a cursor walk of 3-log pages across interleaved executions skips and repeats nothing');
select is(pg_temp.walk('00000011-0000-4000-8000-0000000000a1', 2, 'timeout'),
          (select array_agg(l.seq order by l.seq) from workflow_execution_logs l
           join workflow_executions we using (execution_id)
           where we.workflow_id = '00000011-0000-4000-8000-0000000000a1' and l.message like '%timeout%'),
          'a cursor walk of a search across executions');
select is((get_workflow_logs('00000011-0000-4000-8000-0000000000a1')::jsonb ->> 'total_count')::int, 51,
          'total_count on the first page counts every log of the workflow');
select is((get_workflow_logs('00000011-0000-4000-8000-0000000000a1', level => 'error', start_time => '2025-02-01T00:10:00Z')::jsonb ->> 'total_count')::int,
          (select count(*)::int from workflow_execution_logs l join workflow_executions we using (execution_id)
           where we.workflow_id = '00000011-0000-4000-8000-0000000000a1' and l.level = 'ERROR'
             and l.created_at >= '2025-02-01T00:10:00Z'),
          'total_count with a level and a time window');
select is(get_workflow_logs('00000011-0000-4000-8000-0000000000a1', after => 1)::jsonb -> 'total_count', 'null'::jsonb,
          'total_count is null on cursor pages');
select is(pg_temp.seqs(get_workflow_logs('00000011-0000-4000-8000-0000000000a1', "limit" => 4, "offset" => 6, node_id => 'node-1')::jsonb),
          (select array_agg(seq order by seq) from (select l.seq from workflow_execution_logs l join workflow_executions we using (execution_id)
           where we.workflow_id = '00000011-0000-4000-8000-0000000000a1' and l.node_id = 'node-1' order by l.seq offset 6 limit 4) x),
          'offset and node_id across executions');
select is((select array_agg(distinct e ->> 'execution_id' order by e ->> 'execution_id')
           from jsonb_array_elements(get_workflow_logs('00000011-0000-4000-8000-0000000000a1', "limit" => 1000)::jsonb -> 'logs') e),
          array['pgtap-11-a', 'pgtap-11-b', 'pgtap-11-c', 'pgtap-11-old'],
          'each entry names its execution');
select is(get_workflow_logs('00000011-0000-4000-8000-0000000000a2')::jsonb,
          '{"workflow_id": "00000011-0000-4000-8000-0000000000a2", "logs": [], "total_count": 0,
            "pagination": {"limit": 100, "offset": 0, "has_more": false, "next_cursor": null}}'::jsonb,
          'a workflow without executions gives an empty page');
select is((get_workflow_logs('00000011-0000-4000-8000-0000000000a1', q => 'timeout', "order" => 'rank', "limit" => 100)::jsonb ->> 'total_count')::int,
          jsonb_array_length(get_workflow_logs('00000011-0000-4000-8000-0000000000a1', q => 'timeout', "order" => 'rank', "limit" => 100)::jsonb -> 'logs'),
          'rank mode over a workflow returns every match');

-- ---------------------------------------------------------------------------------------------
-- get_workflow_stats
-- ---------------------------------------------------------------------------------------------
select is(get_workflow_stats('00000011-0000-4000-8000-0000000000a1', '2025-01-01T00:00:00Z', '2025-03-01T00:00:00Z')::jsonb -> 'runs',
          '{"total": 3, "by_status": {"SUCCESS": 1, "ERROR": 1, "RUNNING": 1}, "finished": 2, "failed": 1}'::jsonb,
          'runs in the window by status (the December TIMEOUT run is outside)');
select is(get_workflow_stats('00000011-0000-4000-8000-0000000000a1', '2025-01-01T00:00:00Z', '2025-03-01T00:00:00Z')::jsonb -> 'error_rate',
          '0.5'::jsonb, 'error rate: failed / finished');
select is(get_workflow_stats('00000011-0000-4000-8000-0000000000a1')::jsonb -> 'runs' -> 'failed', '2'::jsonb,
          'without a window every run counts (ERROR and TIMEOUT are failures)');
select is(get_workflow_stats('00000011-0000-4000-8000-0000000000a1', '2025-01-01T00:00:00Z', '2025-03-01T00:00:00Z')::jsonb -> 'duration_seconds',
          '{"avg": 900.000, "p50": 900.000, "p95": 1170.000, "max": 1200.000}'::jsonb,
          'durations of the finished runs');
select is(get_workflow_stats('00000011-0000-4000-8000-0000000000a1', '2025-01-01T00:00:00Z', '2025-03-01T00:00:00Z')::jsonb -> 'top_errors',
          (select jsonb_agg(jsonb_build_object('message', message, 'count', n, 'executions', r, 'last_seen', last_seen) order by n desc, message)
           from (select message, count(*) n, count(distinct execution_id) r, max(created_at) last_seen
                 from workflow_execution_logs where execution_id in ('pgtap-11-a', 'pgtap-11-b', 'pgtap-11-c') and level in ('ERROR', 'CRITICAL')
                 group by message) x),
          'top errors: messages by count, with the runs they occurred in');
select is(jsonb_array_length(get_workflow_stats('00000011-0000-4000-8000-0000000000a1', top => 1)::jsonb -> 'top_errors'), 1,
          'top bounds the list');
select is(get_workflow_stats('00000011-0000-4000-8000-0000000000a1', '2025-01-01T00:00:00Z', '2025-03-01T00:00:00Z')::jsonb -> 'slowest_nodes' -> 0,
          '{"node_id": "node-2", "node_name": "Node 2", "node_type": null, "executions": 2, "failures": 1,
            "avg_duration_seconds": 20.000, "max_duration_seconds": 20.000}'::jsonb,
          'the slowest node first, with the runs where its last step event was step_error');
select is((get_workflow_stats('00000011-0000-4000-8000-0000000000a1', '2025-01-01T00:00:00Z', '2025-03-01T00:00:00Z')::jsonb -> 'logs' ->> 'total')::int,
          50, 'log total of the runs in the window');
select is(get_workflow_stats('00000011-0000-4000-8000-0000000000a2')::jsonb - 'workflow_id',
          '{"since": null, "until": null, "runs": {"total": 0, "by_status": {}, "finished": 0, "failed": 0}, "error_rate": null,
            "duration_seconds": {"avg": null, "p50": null, "p95": null, "max": null}, "logs": {"total": 0, "by_level": {}},
            "top_errors": [], "slowest_nodes": []}'::jsonb,
          'a workflow without runs: zeros and nulls, never an error');

-- ---------------------------------------------------------------------------------------------
-- Bad input
-- ---------------------------------------------------------------------------------------------
select matches(pg_temp.err($$ select get_execution_logs('pgtap-11-a', q => '!!! --')::jsonb $$),
               '^22023 q has no words to search for', 'a q without words: 22023 naming q');
select matches(pg_temp.err($$ select get_execution_logs('pgtap-11-a', q => repeat('a', 1001))::jsonb $$),
               '^22023 q must be at most 1000 characters', 'an overlong q: 22023 naming q');
select matches(pg_temp.err($$ select get_execution_logs('pgtap-11-a', q => 'x', "order" => 'newest')::jsonb $$),
               '^22023 order must be seq or rank', 'unknown order: 22023 naming order');
select matches(pg_temp.err($$ select get_execution_logs('pgtap-11-a', "order" => 'rank')::jsonb $$),
               '^22023 order rank needs q', 'rank without q: 22023');
select matches(pg_temp.err($$ select get_workflow_logs('00000011-0000-4000-8000-0000000000a1', q => 'x', "order" => 'rank', after => 3)::jsonb $$),
               '^22023 after cannot be combined with order rank', 'rank with a cursor: 22023');
select matches(pg_temp.err($$ select get_workflow_logs('not-a-uuid')::jsonb $$),
               '^22023 workflow_id must be a UUID', 'a workflow_id that is not a UUID: 22023');
select matches(pg_temp.err($$ select get_workflow_logs('00000011-0000-4000-8000-0000000000a1', "limit" => 0)::jsonb $$),
               '^22023 limit must be between 1 and 1000', 'limit 0: 22023');
select matches(pg_temp.err($$ select get_workflow_stats('00000011-0000-4000-8000-0000000000a1', '2025-03-01', '2025-01-01')::jsonb $$),
               '^22023 since .* must be before until', 'since after until: 22023');
select matches(pg_temp.err($$ select get_workflow_stats('00000011-0000-4000-8000-0000000000a1', 'last week')::jsonb $$),
               '^22007 since must be an ISO 8601 timestamp', 'unparseable since: 22007 naming since');
select matches(pg_temp.err($$ select get_workflow_stats('00000011-0000-4000-8000-0000000000a1', top => 0)::jsonb $$),
               '^22023 top must be between 1 and 100', 'top 0: 22023');
select throws_ok($$ select get_workflow_logs('00000011-0000-4000-8000-0000000000ff') $$, 'P0002',
                 'workflow 00000011-0000-4000-8000-0000000000ff not found', 'an unknown workflow: P0002');

-- =============================================================================================
-- As another user: the owner's workflow and execution do not exist
-- =============================================================================================
select set_config('request.jwt.claims', '{"sub":"00000011-0000-4000-8000-000000000002","role":"authenticated"}', true);
select throws_ok($$ select get_workflow_logs('00000011-0000-4000-8000-0000000000a1') $$, 'P0002',
                 'workflow 00000011-0000-4000-8000-0000000000a1 not found', 'other user: get_workflow_logs raises P0002');
select throws_ok($$ select get_workflow_stats('00000011-0000-4000-8000-0000000000a1') $$, 'P0002',
                 'workflow 00000011-0000-4000-8000-0000000000a1 not found', 'other user: get_workflow_stats raises P0002');
select throws_ok($$ select get_execution_logs('pgtap-11-a', q => 'timeout') $$, 'P0002', null,
                 'other user: a search of the owner''s execution raises P0002');
select throws_ok($$ select workflow_logs_private.workflow_logs_page('00000011-0000-4000-8000-0000000000a1', 10, 0, null, null, null, null, null, false, null, null, null, null, false) $$,
                 'P0002', null, 'other user: the workflow page reader called directly raises P0002');
select throws_ok($$ select workflow_logs_private.workflow_stats('00000011-0000-4000-8000-0000000000a1', null, null, 10) $$,
                 'P0002', null, 'other user: the stats reader called directly raises P0002');
select is(pg_temp.seqs(get_workflow_logs('00000011-0000-4000-8000-0000000000b1', q => 'timeout')::jsonb),
          (select array[seq] from workflow_execution_logs where execution_id = 'pgtap-11-x'),
          'other user: a search of their own workflow finds only their log');

-- =============================================================================================
-- anon: no access at all
-- =============================================================================================
reset role;
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok($$ select get_workflow_logs('00000011-0000-4000-8000-0000000000a1') $$, '42501', null,
                 'anon: get_workflow_logs is denied');
select throws_ok($$ select get_workflow_stats('00000011-0000-4000-8000-0000000000a1') $$, '42501', null,
                 'anon: get_workflow_stats is denied');

-- =============================================================================================
-- service_role: sees every workflow
-- =============================================================================================
reset role;
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select is((get_workflow_logs('00000011-0000-4000-8000-0000000000b1', q => 'secret')::jsonb ->> 'total_count')::int, 1,
          'service_role: searches any workflow');
reset role;

select * from finish();
rollback;
