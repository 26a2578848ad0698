// The verdict logic of the traffic runner, on synthetic attempts: a check must fail on a stray pod,
// a missing pod, a wrong source, a timeout where a rejection was expected, and vice versa.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Attempt } from '../support/backend.js';
import { judge } from './run-scenarios.js';

const ans = (pod: string, src: string): Attempt => ({ kind: 'answer', answeredBy: pod, seenSource: src });
const refused: Attempt = { kind: 'refused', code: 'ECONNREFUSED', ms: 1 };
const timeout: Attempt = { kind: 'timeout' };

test('answeredBy: all expected pods, nothing else', () => {
  assert.equal(judge([ans('p1', 'x'), ans('p2', 'x')], { answeredBy: ['p1', 'p2'] }, 'client', 'IPv4'), null);
  assert.match(judge([ans('p1', 'x'), ans('p1', 'x')], { answeredBy: ['p1', 'p2'] }, 'client', 'IPv4') ?? '', /p2 answered fewer/);
  assert.match(judge([ans('p1', 'x'), ans('p3', 'x')], { answeredBy: ['p1'] }, 'client', 'IPv4') ?? '', /unexpected pods/);
  assert.match(judge([ans('p1', 'x'), timeout], { answeredBy: ['p1'] }, 'client', 'IPv4') ?? '', /every attempt answered/);
});

test('minEach tolerance for spread', () => {
  const many = [...Array(8).fill(ans('p1', 'x')), ...Array(7).fill(ans('p2', 'x'))] as Attempt[];
  assert.equal(judge(many, { answeredBy: ['p1', 'p2'], minEach: 7 }, 'client', 'IPv4'), null);
  assert.match(judge(many, { answeredBy: ['p1', 'p2'], minEach: 8 }, 'client', 'IPv4') ?? '', /p2 answered fewer than 8/);
});

test('source seen', () => {
  assert.equal(judge([ans('p1', '198.18.0.2')], { answeredBy: ['p1'], source: 'origin' }, 'client', 'IPv4'), null);
  assert.match(judge([ans('p1', '198.18.0.1')], { answeredBy: ['p1'], source: 'origin' }, 'client', 'IPv4') ?? '', /saw source 198\.18\.0\.1/);
  assert.equal(judge([ans('p1', '2001:db8::1')], { answeredBy: ['p1'], source: 'node' }, 'p2', 'IPv6'), null);
  assert.equal(judge([ans('p1', '198.18.100.2')], { answeredBy: ['p1'], source: 'origin' }, 'p2', 'IPv4'), null);
});

test('sticky', () => {
  assert.equal(judge([ans('p2', 'x'), ans('p2', 'x')], { sticky: ['p1', 'p2'] }, 'client', 'IPv4'), null);
  assert.match(judge([ans('p2', 'x'), ans('p1', 'x')], { sticky: ['p1', 'p2'] }, 'client', 'IPv4') ?? '', /one sticky/);
});

test('rejected vs dropped', () => {
  assert.equal(judge([refused, refused], 'rejected', 'client', 'IPv4'), null);
  assert.match(judge([refused, timeout], 'rejected', 'client', 'IPv4') ?? '', /rejected/);
  assert.equal(judge([timeout, timeout], 'dropped', 'client', 'IPv4'), null);
  assert.match(judge([timeout, refused], 'dropped', 'client', 'IPv4') ?? '', /dropped/);
  assert.match(judge([ans('p1', 'x')], 'dropped', 'client', 'IPv4') ?? '', /dropped/);
});
