// CoreDNS with only the plugins the test node uses: cluster.local names from the API server (the
// kubernetes plugin) with a cache, health and readiness endpoints. No forward plugin: nothing outside
// this machine is resolved. build.sh builds this file in a generated module; it is not part of any Go
// package of the repo.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func init() {
	// The order plugins run in (CoreDNS' plugin.cfg order, restricted to the ones above).
	dnsserver.Directives = []string{"ready", "health", "errors", "log", "cache", "kubernetes"}
}

func main() { coremain.Run() }
