import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseState } from './state.js';

const fixture = (name: string) => readFileSync(new URL(`__fixtures__/${name}`, import.meta.url), 'utf8');

describe('parseState', () => {
  it('reads the state runc gave a createRuntime hook', () => {
    expect(parseState(fixture('runc.state.json'))).toEqual({
      ociVersion: '1.0.2-dev',
      id: 'bulwark-runc-probe',
      status: 'creating',
      pid: 7911,
      bundle: '/tmp/runcb',
      annotations: { 'com.example.owner': 'bulwark' },
    });
  });

  it('reads the states podman-run containers gave a hook', () => {
    const state = parseState(fixture('podman-run.state.json'));
    expect(state.status).toBe('creating');
    expect(state.bundle).toMatch(/^\/var\/lib\/containers\/storage\/overlay-containers\/[0-9a-f]{64}\/userdata$/u);
    expect(state.annotations?.['io.container.manager']).toBe('libpod');
    expect(parseState(fixture('podman-kube.state.json')).annotations?.['io.kubernetes.cri-o.ContainerType']).toBe('container');
  });

  it('accepts paused, as runc reports a frozen container', () => {
    expect(parseState('{"ociVersion":"1.0.2","id":"c","status":"paused","pid":42,"bundle":"/b"}').status).toBe('paused');
  });

  it('drops the pid 0 that runc state prints for a stopped container', () => {
    const state = parseState('{"ociVersion":"1.0.2-dev","id":"c","pid":0,"status":"stopped","bundle":"/b","rootfs":"/b/rootfs","created":"2026-11-22T21:52:00Z","owner":""}');
    expect(state).not.toHaveProperty('pid');
    expect(state.rootfs).toBe('/b/rootfs');
  });

  it('keeps unknown fields', () => {
    expect(parseState('{"ociVersion":"1","id":"c","status":"created","pid":1,"bundle":"/b","x":{"y":[1]}}').x).toEqual({ y: [1] });
  });

  it('rejects pid 0 for a running container and names the line', () => {
    expect(() => parseState('{\n"ociVersion":"1",\n"id":"c",\n"status":"running",\n"pid":0,\n"bundle":"/b"}', 'stdin')).toThrow(
      'stdin: line 5 pid: expected a positive process id (0 only for a stopped container)',
    );
  });

  it('rejects an unknown status with the allowed list', () => {
    expect(() => parseState('{"ociVersion":"1","id":"c","status":"zombie","bundle":"/b"}')).toThrow(
      'state: line 1 status: expected one of creating, created, running, stopped, paused',
    );
  });

  it('rejects a relative bundle and a missing id', () => {
    expect(() => parseState('{"ociVersion":"1","id":"c","status":"created","bundle":"b"}')).toThrow('bundle: bundle must be an absolute path');
    expect(() => parseState('{"ociVersion":"1","status":"created","bundle":"/b"}')).toThrow('id: missing required property (expected string)');
  });

  it('rejects a json array or malformed json', () => {
    expect(() => parseState('[]')).toThrow(/state: line 1: expected object, received array/u);
    expect(() => parseState('{"ociVersion": "1",')).toThrow(/malformed json/u);
  });
});
