import { describe, expect, test } from 'bun:test'
import { parseChallenge, parseNextLink } from './headers.ts'

describe('parseNextLink', () => {
  test.each([
    [null, null],
    ['', null],
    ['</v2/_catalog?last=ns%2Fapp&n=2>; rel="next"', { last: 'ns/app', n: 2 }],
    ['</v2/_catalog?n=2&last=a%2Fb%2Bc>;rel=next', { last: 'a/b+c', n: 2 }],
    ['<https://other.internal/v2/_catalog?last=zz>; rel="next"', { last: 'zz' }],
    ['</v2/ns/app/tags/list?last=v1.0&n=100>; rel="next"', { last: 'v1.0', n: 100 }],
    [
      '</v2/_catalog?last=b>; rel="prev", </v2/_catalog?last=d&n=5>; rel="next"',
      { last: 'd', n: 5 },
    ],
    ['</v2/_catalog?last=d>; title="x"; rel="prefetch next"', { last: 'd' }],
    ['</v2/_catalog?last=d>; REL="Next"', { last: 'd' }],
    ['</v2/_catalog?last=b>; rel="prev"', null],
    ['</v2/_catalog?n=2>; rel="next"', { last: '', n: 2 }],
    ['</v2/_catalog?last=x&n=abc>; rel="next"', { last: 'x' }],
  ])('reads %p', (header, expected) => {
    expect(parseNextLink(header)).toEqual(expected)
  })
})

describe('parseChallenge', () => {
  test.each([
    [null, null],
    ['', null],
    [
      'Bearer realm="http://127.0.0.1:5001/token",service="registry.test",scope="repository:ns/app:pull"',
      {
        scheme: 'bearer',
        params: {
          realm: 'http://127.0.0.1:5001/token',
          service: 'registry.test',
          scope: 'repository:ns/app:pull',
        },
      },
    ],
    [
      'Bearer realm="https://a/token?x=1,y=2",service="s",scope="repository:a:pull,push repository:b:pull",error="insufficient_scope"',
      {
        scheme: 'bearer',
        params: {
          realm: 'https://a/token?x=1,y=2',
          service: 's',
          scope: 'repository:a:pull,push repository:b:pull',
          error: 'insufficient_scope',
        },
      },
    ],
    ['Basic realm="registry"', { scheme: 'basic', params: { realm: 'registry' } }],
    [
      'basic realm=registry, charset="UTF-8"',
      { scheme: 'basic', params: { realm: 'registry', charset: 'UTF-8' } },
    ],
    [
      'Bearer realm="a \\"quoted\\" realm"',
      { scheme: 'bearer', params: { realm: 'a "quoted" realm' } },
    ],
    ['Bearer realm="unterminated', { scheme: 'bearer', params: { realm: 'unterminated' } }],
    ['Bearer', { scheme: 'bearer', params: {} }],
    ['Bearer realm="r", Basic realm="b"', { scheme: 'bearer', params: { realm: 'r' } }],
    ['=garbage', null],
  ])('reads %p', (header, expected) => {
    expect(parseChallenge(header)).toEqual(expected)
  })
})
