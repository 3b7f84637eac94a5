-- Logs indexed by workflow (20251125000900): the workflow_id column and its indexes, every write path
-- sets it (append, a direct INSERT, an execution moved to another workflow), the backfill, new
-- partitions get the indexes, and workflow pages read rows by it (owner, other user).
begin;
set local search_path = public, extensions;
select plan(29);

-- =============================================================================================
-- Layout
-- =============================================================================================
select has_column('public', 'workflow_execution_logs', 'workflow_id', 'logs carry workflow_id');
select col_type_is('public', 'workflow_execution_logs', 'workflow_id', 'uuid', 'workflow_id is a uuid');
select has_index('public', 'workflow_execution_logs', 'workflow_execution_logs_workflow_id_seq_idx',
                 array['workflow_id', 'seq'], 'workflow pages are indexed by (workflow_id, seq)');
select has_index('public', 'workflow_execution_logs', 'workflow_execution_logs_workflow_id_milestones_idx',
                 array['workflow_id', 'seq'], 'workflow milestones are indexed by (workflow_id, seq)');
select is((select pg_get_expr(i.indpred, i.indrelid) from pg_index i
           where i.indexrelid = 'public.workflow_execution_logs_workflow_id_milestones_idx'::regclass),
          'is_milestone', 'the milestones index holds milestones only');
select index_is_type('public', 'workflow_execution_logs', 'workflow_execution_logs_workflow_execution_search_idx', 'gin',
                     'search reads one GIN index');
select is((select array_agg(a.attname::text order by k.n)
           from pg_index i, unnest(i.indkey) with ordinality k(attnum, n)
           join pg_attribute a on a.attrelid = 'public.workflow_execution_logs'::regclass and a.attnum = k.attnum
           where i.indexrelid = 'public.workflow_execution_logs_workflow_execution_search_idx'::regclass),
          array['workflow_id', 'execution_id', 'search_vector'],
          'the GIN index covers (workflow_id, execution_id, search_vector)');
select hasnt_index('public', 'workflow_execution_logs', 'workflow_execution_logs_search_vector_idx',
                   'the GIN index of search_vector alone is gone (the combined one serves it)');
select ok(not has_function_privilege(r, 'workflow_logs_private.backfill_log_workflow_ids()', 'execute'),
          format('%s cannot run the backfill', r))
from unnest(array['anon', 'authenticated', 'service_role']) r;

-- =============================================================================================
-- Fixtures (as postgres)
-- =============================================================================================
insert into auth.users (id, aud, role, email) values
  ('00000013-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'owner-13@example.com'),
  ('00000013-0000-4000-8000-000000000002', 'authenticated', 'authenticated', 'other-13@example.com');
insert into public.workflows (id, user_id, name) values
  ('00000013-0000-4000-8000-0000000000a1', '00000013-0000-4000-8000-000000000001', 'workflow 13 a'),
  ('00000013-0000-4000-8000-0000000000a2', '00000013-0000-4000-8000-000000000001', 'workflow 13 b'),
  ('00000013-0000-4000-8000-0000000000b1', '00000013-0000-4000-8000-000000000002', 'other workflow 13');
insert into public.workflow_executions (execution_id, workflow_id, status) values
  ('pgtap-13-a', '00000013-0000-4000-8000-0000000000a1', 'RUNNING'),
  ('pgtap-13-b', '00000013-0000-4000-8000-0000000000a1', 'RUNNING'),
  ('pgtap-13-moved', '00000013-0000-4000-8000-0000000000a1', 'RUNNING'),
  ('pgtap-13-x', '00000013-0000-4000-8000-0000000000b1', 'RUNNING');

-- =============================================================================================
-- Write paths
-- =============================================================================================
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select is((public.append_execution_logs(
             '[{"id": "00000013-0000-4000-8000-00000000e001", "execution_id": "pgtap-13-a", "event_type": "step_output", "message": "append one"},
               {"id": "00000013-0000-4000-8000-00000000e002", "execution_id": "pgtap-13-b", "event_type": "step_output", "message": "append two"},
               {"id": "00000013-0000-4000-8000-00000000e003", "execution_id": "pgtap-13-x", "event_type": "step_output", "message": "append three"}]'::jsonb)
           ->> 'inserted')::int, 3, 'append writes a batch over two workflows');
select results_eq(
  $$ select execution_id::text, workflow_id from public.workflow_execution_logs where message like 'append %' order by seq $$,
  $$ values ('pgtap-13-a', '00000013-0000-4000-8000-0000000000a1'::uuid), ('pgtap-13-b', '00000013-0000-4000-8000-0000000000a1'::uuid),
            ('pgtap-13-x', '00000013-0000-4000-8000-0000000000b1'::uuid) $$,
  'append sets each row''s workflow_id from its execution, rows in array order');
select is((public.append_execution_logs(
             '[{"id": "00000013-0000-4000-8000-00000000e001", "execution_id": "pgtap-13-a", "event_type": "step_output", "message": "append one"}]'::jsonb)
           ->> 'duplicates')::int, 1, 'a retried entry is still recognised as a duplicate');

insert into public.workflow_execution_logs (execution_id, event_type, message) values
  ('pgtap-13-a', 'step_output', 'direct one'),
  ('pgtap-13-moved', 'step_output', 'direct moved');
select is((select workflow_id from public.workflow_execution_logs where message = 'direct one'),
          '00000013-0000-4000-8000-0000000000a1'::uuid, 'a direct INSERT without workflow_id gets it from the execution');
insert into public.workflow_execution_logs (execution_id, event_type, message, workflow_id) values
  ('pgtap-13-a', 'step_output', 'direct given', '00000013-0000-4000-8000-0000000000a2');
select is((select workflow_id from public.workflow_execution_logs where message = 'direct given'),
          '00000013-0000-4000-8000-0000000000a2'::uuid, 'a workflow_id given by the writer is kept');
delete from public.workflow_execution_logs where message = 'direct given';
insert into public.workflow_execution_logs (execution_id, event_type, message) values
  ('pgtap-13-nowhere', 'step_output', 'direct orphan');
select is((select workflow_id from public.workflow_execution_logs where message = 'direct orphan'), null::uuid,
          'a row of an execution that does not exist has no workflow');

update public.workflow_executions set workflow_id = '00000013-0000-4000-8000-0000000000a2' where execution_id = 'pgtap-13-moved';
select is((select workflow_id from public.workflow_execution_logs where message = 'direct moved'),
          '00000013-0000-4000-8000-0000000000a2'::uuid, 'an execution moved to another workflow takes its logs along');
reset role;

-- =============================================================================================
-- Backfill (rows written before the column existed, or with triggers off)
-- =============================================================================================
set local session_replication_role = replica;  -- no triggers: the row keeps a null workflow_id
insert into public.workflow_execution_logs (execution_id, event_type, message) values
  ('pgtap-13-b', 'step_output', 'loaded without triggers');
set local session_replication_role = origin;
select is((select workflow_id from public.workflow_execution_logs where message = 'loaded without triggers'), null::uuid,
          'with triggers off a direct row has no workflow_id');
select is(workflow_logs_private.backfill_log_workflow_ids(), 1::bigint,
          'the backfill fills the rows whose execution exists (the orphan stays null)');
select is((select workflow_id from public.workflow_execution_logs where message = 'loaded without triggers'),
          '00000013-0000-4000-8000-0000000000a1'::uuid, 'the backfilled row has its execution''s workflow');
select is_empty($$ select 1 from public.workflow_execution_logs l join public.workflow_executions we using (execution_id)
                   where l.workflow_id is distinct from we.workflow_id $$,
                'every row of an existing execution carries that execution''s workflow');

-- =============================================================================================
-- New partitions carry the indexes
-- =============================================================================================
select ok(workflow_logs_private.create_log_partition(date '2099-01-01'), 'a new partition is created');
select is((select array_agg(p.relname::text order by p.relname)
           from pg_index x
           join pg_inherits i on i.inhrelid = x.indexrelid
           join pg_class p on p.oid = i.inhparent
           where x.indrelid = 'workflow_logs_partitions.workflow_execution_logs_p20990101'::regclass
             and p.relname::text like 'workflow_execution_logs_workflow%'),
          array['workflow_execution_logs_workflow_execution_search_idx', 'workflow_execution_logs_workflow_id_milestones_idx',
                'workflow_execution_logs_workflow_id_seq_idx'],
          'the new partition has the workflow indexes');

-- =============================================================================================
-- Workflow pages read by workflow_id
-- =============================================================================================
set local role authenticated;
select set_config('request.jwt.claims', '{"sub":"00000013-0000-4000-8000-000000000001","role":"authenticated"}', true);
select is((select array_agg(e ->> 'message' order by (e ->> 'seq')::bigint)
           from jsonb_array_elements(public.get_workflow_logs('00000013-0000-4000-8000-0000000000a1')::jsonb -> 'logs') e),
          array['append one', 'append two', 'direct one', 'loaded without triggers'],
          'owner: the workflow page holds every written path''s rows of its executions (not the moved run''s)');
select is((select array_agg(e ->> 'message')
           from jsonb_array_elements(public.get_workflow_logs('00000013-0000-4000-8000-0000000000a2')::jsonb -> 'logs') e),
          array['direct moved'], 'owner: the moved run''s logs are on its new workflow''s page');
select is((public.get_workflow_logs('00000013-0000-4000-8000-0000000000a1', q => 'direct')::jsonb -> 'total_count')::int, 1,
          'owner: a search of the workflow counts its matches only');

select set_config('request.jwt.claims', '{"sub":"00000013-0000-4000-8000-000000000002","role":"authenticated"}', true);
select throws_ok($$ select public.get_workflow_logs('00000013-0000-4000-8000-0000000000a1') $$, 'P0002', null,
                 'other user: the owner''s workflow is not found');
select is_empty($$ select 1 from public.workflow_execution_logs where workflow_id = '00000013-0000-4000-8000-0000000000a1' $$,
                'other user: reading the logs by workflow_id directly shows nothing (RLS)');
reset role;

select * from finish();
rollback;
