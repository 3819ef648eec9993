// parseCorefile: the multicluster plugin's Corefiles (the README's own
// examples first), the kubernetes plugin's multicluster option, the lexer's
// corners, and one-line errors with file and line.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCorefile, parseResolvConf, type CorefileSettings } from '../services/cli/corefile.js';
import { UsageError } from '../services/cli/settings.js';

const PATH = '/etc/coredns/Corefile';
const parse = (text: string): CorefileSettings => parseCorefile(text, PATH);

function fails(text: string, message: RegExp): void {
  assert.throws(
    () => parse(text),
    (err: unknown) => {
      assert.ok(err instanceof UsageError, 'a usage error');
      assert.doesNotMatch(err.message, /\n/, 'one line');
      assert.match(err.message, message);
      return true;
    },
  );
}

describe('parseCorefile', () => {
  it("reads the plugin README's example: in-cluster, the zone from the plugin line", () => {
    assert.deepEqual(parse('.:53 {\n    multicluster clusterset.local\n}\n'), {
      zones: ['clusterset.local'],
      clusters: [{}],
      noEndpoints: false,
      fallthrough: undefined,
      upstreams: [],
      resolvConf: [],
      dnsListen: '0.0.0.0:53',
      warnings: [],
    });
  });

  it("reads the plugin README's full Corefile: the other plugins are left alone, forward gives a resolv.conf", () => {
    const settings = parse(`.:53 {
    errors
    health
    multicluster clusterset.local
    kubernetes cluster.local in-addr.arpa ip6.arpa {
      pods insecure
      fallthrough in-addr.arpa ip6.arpa
    }
    prometheus :9153
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
}
`);
    assert.deepEqual(settings.zones, ['clusterset.local']);
    assert.deepEqual(settings.clusters, [{}]);
    assert.equal(settings.fallthrough, undefined, "the kubernetes plugin's fallthrough is its own");
    assert.deepEqual(settings.resolvConf, ['/etc/resolv.conf']);
    assert.deepEqual(settings.upstreams, []);
  });

  it('reads every option of the plugin block, with quotes and comments', () => {
    const settings = parse(`# the multicluster zone
clusterset.local:5353 {   # server block
    bind 127.0.0.1
    multicluster {
        kubeconfig "/etc/kube configs/east.yaml" "kubernetes-admin@kubernetes"  # quoted, with a space and an @
        noendpoints
        fallthrough sub.clusterset.local. Other.Example
    }
    forward . 10.0.0.10 dns://10.0.0.11:5353 [fd00::53]:53 fd00::54 {
        max_concurrent 1000
    }
}
`);
    assert.deepEqual(settings, {
      zones: ['clusterset.local'],
      clusters: [{ kubeconfig: '/etc/kube configs/east.yaml', context: 'kubernetes-admin@kubernetes' }],
      noEndpoints: true,
      fallthrough: ['sub.clusterset.local', 'other.example'],
      upstreams: [
        { host: '10.0.0.10', port: 53 },
        { host: '10.0.0.11', port: 5353 },
        { host: 'fd00::53', port: 53 },
        { host: 'fd00::54', port: 53 },
      ],
      resolvConf: [],
      dnsListen: '127.0.0.1:5353',
      warnings: [`${PATH}:10: forward option max_concurrent is not followed`],
    });
  });

  it('gives fallthrough without zones as every zone, and warns when nothing to forward to', () => {
    const settings = parse('clusterset.local {\n  multicluster {\n    fallthrough\n  }\n}\n');
    assert.deepEqual(settings.fallthrough, []);
    assert.deepEqual(settings.zones, ['clusterset.local'], 'zones from the server block key');
    assert.match(settings.warnings.join('\n'), /fallthrough without `forward \. ADDRESS`/);
  });

  it('collects one cluster per plugin instance across server blocks, several keys and a braceless file', () => {
    const settings = parse(`clusterset.local:53, other.local:53 {
  multicluster {
    kubeconfig /k/east.yaml east
  }
  forward . 192.0.2.1
}
dns://clusterset.local:53 {
  multicluster clusterset.local {
    kubeconfig /k/west.yaml
  }
  forward . 192.0.2.1 192.0.2.2:5300
}
`);
    assert.deepEqual(settings.zones, ['clusterset.local', 'other.local']);
    assert.deepEqual(settings.clusters, [{ kubeconfig: '/k/east.yaml', context: 'east' }, { kubeconfig: '/k/west.yaml' }]);
    assert.deepEqual(settings.upstreams, [
      { host: '192.0.2.1', port: 53 },
      { host: '192.0.2.2', port: 5300 },
    ]);
    assert.deepEqual(parse('.\nmulticluster clusterset.local\n').zones, ['clusterset.local'], 'one server block needs no braces');
  });

  it("reads the kubernetes plugin's multicluster option and the options that apply to it", () => {
    const settings = parse(`.:53 {
    kubernetes cluster.local clusterset.local {
        multicluster clusterset.local
        kubeconfig /k/local.yaml
        pods insecure
        ttl 30
        fallthrough in-addr.arpa ip6.arpa
        namespaces prod
    }
    transfer clusterset.local {
        to 10.0.0.0/8 192.0.2.7 fd00::/64
    }
}
`);
    assert.deepEqual(settings.zones, ['clusterset.local']);
    assert.deepEqual(settings.clusters, [{ kubeconfig: '/k/local.yaml' }]);
    assert.equal(settings.ttl, 30);
    assert.deepEqual(settings.fallthrough, ['in-addr.arpa', 'ip6.arpa']);
    assert.deepEqual(settings.allowTransfer, ['10.0.0.0/8', '192.0.2.7/32', 'fd00::/64']);
    assert.deepEqual(settings.warnings, [`${PATH}:8: kubernetes namespaces is not followed: mcsdns serves every namespace of the multicluster zones`]);
    assert.equal(parse('. {\n kubernetes cluster.local {\n  pods insecure\n }\n multicluster clusterset.local\n}\n').ttl, undefined, 'a kubernetes block without the option is not ours');
  });

  it('expands snippets and warns about file imports', () => {
    const settings = parse(`(mcs) {
    multicluster clusterset.local {
        kubeconfig /k/east.yaml
    }
}
clusterset.local:53 {
    import mcs
    import custom/*.override
    transfer {
        to *
    }
}
`);
    assert.deepEqual(settings.clusters, [{ kubeconfig: '/k/east.yaml' }]);
    assert.deepEqual(settings.allowTransfer, ['0.0.0.0/0', '::/0']);
    assert.deepEqual(settings.warnings, [`${PATH}:8: import custom/*.override is not followed: mcsdns reads this file only`]);
  });

  it('ignores server blocks without the plugin; # starts a comment even inside a token, not inside quotes', () => {
    const settings = parse(`example.org {
    file db.example
}
clusterset.local {
    multicluster {
        kubeconfig /k/east.yaml#east "ctx#1"
    }
}
`);
    assert.deepEqual(settings.zones, ['clusterset.local']);
    assert.deepEqual(settings.clusters, [{ kubeconfig: '/k/east.yaml' }]);
    assert.deepEqual(parse('. {\n multicluster {\n  kubeconfig "/k/a\\"b.yaml" "c\\d"\n }\n}\n').clusters, [{ kubeconfig: '/k/a"b.yaml', context: 'c\\d' }], 'only a quote is escaped');
  });

  it('replaces {$VAR} and {%VAR%} in keys and arguments, quoted or not; a value is text, never a brace', () => {
    const env = { ZONE: 'clusterset.local', PORT: '5353', KUBE: '/etc/kube', CONTEXT: 'east-admin', BRACE: '{', NESTED: '{$ZONE}' };
    const settings = parseCorefile(
      '{$ZONE}:{%PORT%} {\n  multicluster {$ZONE} {\n    kubeconfig "{$KUBE}/{$}east.yaml" {$CONTEXT}{$UNSET}\n    fallthrough {%ZONE%}\n  }\n}\nother.local:{$PORT} {\n  multicluster other.local {\n    kubeconfig /k {$NESTED}\n    fallthrough clusterset.local\n  }\n}\n',
      PATH,
      env,
    );
    assert.deepEqual(settings.zones, ['clusterset.local', 'other.local']);
    assert.equal(settings.dnsListen, '0.0.0.0:5353');
    assert.deepEqual(settings.clusters, [
      { kubeconfig: '/etc/kube/{$}east.yaml', context: 'east-admin' }, // an empty name stays as written, an unset variable is empty
      { kubeconfig: '/k', context: '{$ZONE}' }, // a value is not expanded again
    ]);
    assert.deepEqual(settings.fallthrough, ['clusterset.local']);
    // A variable holding a brace opens no block: the argument is the text "{".
    assert.throws(() => parseCorefile('.:53 {\n  multicluster {$BRACE}\n}\n', PATH, env), /Corefile:2: "\{" is not a valid zone name/);
  });

  it('names the file, the line and the directive in one-line errors', () => {
    fails('.:53 {\n  multicluster clusterset.local {\n    kubeconfig /k\n    endpoint https://x\n  }\n}\n', /^\/etc\/coredns\/Corefile:4: unknown multicluster directive "endpoint" \(known: kubeconfig, noendpoints, fallthrough\)$/);
    fails('.:53 {\n  multicluster {\n    kubeconfig a b c\n  }\n}\n', /Corefile:3: multicluster kubeconfig takes KUBECONFIG \[CONTEXT\], got 3 arguments/);
    fails('.:53 {\n  multicluster {\n    noendpoints yes\n  }\n}\n', /Corefile:3: multicluster noendpoints takes no arguments/);
    fails('.:53 {\n  multicluster clusterset.local\n', /Corefile:1: "\{" is never closed/);
    fails('.:53 {\n  multicluster clusterset.local\n}\n}\n', /Corefile:4: unexpected "\}"/);
    fails('.:53 {\n  multicluster {\n    kubeconfig "/k/east.yaml\n  }\n}\n', /Corefile:3: quoted string is never closed/);
    fails('.:53 {\n  multicluster clusterset.local\n}\nother.local\n  multicluster\n', /Corefile:4: expected "\{" after the server block keys other\.local/);
    fails('.:53 {\n  log\n}\n', /^\/etc\/coredns\/Corefile: no server block uses the multicluster plugin$/);
    fails('tls://.:853 {\n  multicluster clusterset.local\n}\n', /Corefile:1: server block tls:\/\/\.:853: only plain DNS/);
    fails('.:53 {\n  multicluster clusterset.local\n  forward . tls://1.1.1.1\n}\n', /Corefile:3: forward to tls:\/\/1\.1\.1\.1: only plain DNS upstreams/);
    fails('.:53 {\n  multicluster bad..zone\n}\n', /Corefile:2: "bad\.\.zone" is not a valid zone name/);
    fails('.:53 {\n  kubernetes cluster.local {\n    multicluster\n  }\n}\n', /Corefile:3: multicluster in the kubernetes plugin needs its ZONES/);
    fails('.:53 {\n  kubernetes cluster.local {\n    multicluster clusterset.local\n    endpoint https://k8s:6443\n  }\n}\n', /Corefile:4: kubernetes endpoint is not supported/);
    fails('.:53 {\n  kubernetes cluster.local {\n    multicluster clusterset.local\n    frobnicate\n  }\n}\n', /Corefile:4: unknown kubernetes directive "frobnicate"/);
    fails('.:53 {\n  multicluster a.local\n  multicluster b.local\n}\n', /Corefile:3: multicluster is used twice in one server block/);
    fails('a.local:53 {\n  multicluster {\n    noendpoints\n  }\n}\nb.local:53 {\n  multicluster\n}\n', /Corefile:7: noendpoints differs from the plugin's on line 2/);
    fails('a.local:53 {\n  multicluster\n}\nb.local:54 {\n  multicluster\n}\n', /Corefile:4: server blocks listen on 0\.0\.0\.0:53 and 0\.0\.0\.0:54/);
    fails('.:53 {\n  multicluster clusterset.local\n  transfer {\n    to somewhere\n  }\n}\n', /Corefile:4: transfer to somewhere: not an address or CIDR/);
  });
});

describe('parseResolvConf', () => {
  it('reads the nameserver lines', () => {
    const text = '# generated\nsearch svc.cluster.local\nnameserver 10.96.0.10\nnameserver fd00::10 ; comment\nnameserver bogus\noptions ndots:5\n';
    assert.deepEqual(parseResolvConf(text), [
      { host: '10.96.0.10', port: 53 },
      { host: 'fd00::10', port: 53 },
    ]);
  });
});
