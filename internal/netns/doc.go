// Package netns builds small throwaway networks for tests: hosts that are
// Linux network namespaces joined by one Ethernet bridge, with the test
// process, which stays where it is, as one more host on the same subnet
// (the client).
//
//	n := netns.New(t, 3)                              // hosts 10.X.Y.1 … 10.X.Y.3, the client 10.X.Y.254
//	cmd := n.Command(1, bin, "-addr", "0.0.0.0:4000") // a process on host 1
//	resp, err := http.Get("http://" + n.IP(1) + ":4000/")
//	n.Cut(3)  // host 3's cable pulled: a partition
//	n.Heal(3) // and plugged back
//
// New skips the test (t.Skip, saying why) when it cannot run: not Linux,
// not root, no ip command (iproute2), or a kernel or container that does
// not let namespaces, bridges or veth pairs be made.
//
// # Layout
//
// Every Net has a tag, a number that no other Net of any process on the
// machine holds at the same time, and it names everything the Net makes:
//
//   - the switch: namespace phxnetTAG-sw, holding the bridge br0;
//   - host i: namespace phxnetTAG-hi, whose eth0 has 10.X.Y.i/24 and is
//     one end of a veth pair whose other end (hi) is a port of the
//     bridge; its loopback is up;
//   - the client: interface phxnetTAG in the test's own namespace, with
//     10.X.Y.254/24, the end of a veth pair whose other end (c) is a port
//     of the bridge.
//
// X.Y is the tag written in base 254 (10.1.1.0/24 … 10.254.254.0/24).
// The tag New first tries is derived from the process id, and it tries
// the next until it finds one free: it holds an flock(2) on
// /run/phx-netns/TAG.lock while the Net lives, so that concurrent go test
// processes, parallel tests and -count runs never share one, and it
// passes over a tag whose subnet overlaps an address or route the test's
// namespace already has (taking, only if every subnet does, one that
// lies within a route wider than a /24, such as a VPN's 10.0.0.0/8,
// which the Net's /24 then overrides while it lives). Interface names are at most 11 bytes (the
// kernel's limit is 15).
//
// # Firewalls
//
// The bridge is not in the test's (root) namespace, and this is what
// keeps the machine's firewall out of the way. Docker, among others, sets
// the root namespace's iptables FORWARD policy to DROP, and with
// br_netfilter loaded (net.bridge.bridge-nf-call-iptables=1) frames that
// cross a bridge go through the FORWARD chain of the bridge's namespace:
// host-to-host traffic over a bridge in the root namespace would be
// dropped, unless a sysctl were turned off for the whole machine or a
// rule added. Firewall rules belong to a namespace, though, and the
// switch namespace is new and has none: whatever the root namespace's
// firewall says, bridged frames meet only the switch's empty chains. So
// New changes no sysctl and adds no rule, and there is nothing global to
// undo afterwards. Only the client's own traffic goes through the root
// namespace's chains, as a local endpoint's would (OUTPUT, and INPUT for
// what the hosts send it; never FORWARD).
//
// Before it returns, New checks each path with a TCP connection: the
// client to every host, every host to the client, and every host to
// another host. If one is blocked it fails the test with what it found
// (bridge-nf-call-iptables, the iptables tables loaded). A root namespace
// whose INPUT chain drops connections the hosts open to the client would
// need a rule such as `iptables -I INPUT -i phxnetTAG -j ACCEPT`, which
// New does not add.
//
// # Cleanup
//
// t.Cleanup undoes everything: processes still running in the Net's
// namespaces are killed (SIGKILL), the client's interface and the
// namespaces are deleted (which deletes the veth pairs and the bridge),
// and the lock file is removed. A test process that dies without its
// cleanups (kill -9, a go test -timeout panic) releases its flocks all
// the same, so whatever bears the names of a tag that nobody holds is a
// leftover of a dead run: New removes such leftovers, of its own tag and
// of any other, before it builds.
//
// # Partitions
//
// Cut takes host i's bridge port down: its eth0 loses carrier, and
// nothing passes between host i and anyone else, the client included,
// until Heal takes the port up again. Addresses, routes and sockets stay
// as they were.
//
// # Sockets of the test process
//
// Do runs a function on an OS thread moved into a host's namespace, so
// that the test process itself can listen or dial as that host (Listen,
// Dial), without any program of the host's.
package netns
