// The scenario selection from the environment (KPX_SCENARIOS, KPX_SCENARIOS_PART) that splits the
// slow IPVS guest run: the parts are disjoint, cover every selected scenario, keep table order.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { envScenarioFilter } from './run-scenarios.js';
import { ALL_GROUPS } from './scenarios.js';

const picked = (env: NodeJS.ProcessEnv): string[] => {
  const f = envScenarioFilter(env);
  return ALL_GROUPS.flatMap((g) => g.scenarios.filter((s) => !f || f(g, s)).map((s) => s.name));
};

describe('envScenarioFilter', () => {
  const all = picked({});
  test('nothing set: every scenario', () => {
    assert.equal(envScenarioFilter({}), undefined);
    assert.ok(all.length > 10);
  });
  test('KPX_SCENARIOS_PART=i/3: disjoint slices that together are the whole table, in order', () => {
    const parts = [1, 2, 3].map((i) => picked({ KPX_SCENARIOS_PART: `${i}/3` }));
    assert.deepEqual(parts.flat(), all);
    for (const p of parts) assert.ok(Math.abs(p.length - all.length / 3) < 1, `slice sizes ${parts.map((x) => x.length).join(',')}`);
  });
  test('with KPX_SCENARIOS: the slices split the matching scenarios only', () => {
    const only = picked({ KPX_SCENARIOS: 'reject|drop' });
    assert.ok(only.length >= 2 && only.length < all.length);
    assert.deepEqual([...picked({ KPX_SCENARIOS: 'reject|drop', KPX_SCENARIOS_PART: '1/2' }), ...picked({ KPX_SCENARIOS: 'reject|drop', KPX_SCENARIOS_PART: '2/2' })], only);
  });
  test('a malformed part is an error, not a silent full or empty run', () => {
    for (const v of ['0/3', '4/3', '1-3', '1/0', 'x']) assert.throws(() => envScenarioFilter({ KPX_SCENARIOS_PART: v }), /KPX_SCENARIOS_PART/, v);
  });
});
