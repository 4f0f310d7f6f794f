package cluster

import (
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc/credentials"
)

// Nodes talk over mutual TLS 1.3 with one key pair that every node derives
// from the cluster secret: a node proves it holds the secret by signing
// its handshake with that key, and accepts a peer only if the peer's
// certificate carries the same public key. Names and addresses play no
// part (nodes are reached through IPs, DNS names, VIPs and proxies alike),
// so the usual chain and hostname checks are replaced by that one.
//
// This is what makes a recorded frame worthless: a frame only exists inside
// one TLS connection, whose keys were agreed by its two ends, so bytes
// taken off the wire can be neither read nor played into another
// connection. Within a connection TLS refuses a repeated record; across
// connections frames are bound to one run of their receiver and numbered
// per link (frame.go), so a node never takes the same frame twice.

// errWrongSecret says a peer's certificate is not the cluster's: it was
// made from another secret.
var errWrongSecret = errors.New("cluster: the peer does not hold this cluster's secret")

// nodeKey derives the cluster's key pair from its secret.
func nodeKey(secret string) ed25519.PrivateKey {
	seed, err := hkdf.Key(sha256.New, []byte(secret), []byte("phx cluster"), "node key", ed25519.SeedSize)
	if err != nil {
		panic(err) // only for lengths HKDF cannot give
	}
	return ed25519.NewKeyFromSeed(seed)
}

// tlsConfigs returns the server's and the client's TLS configuration of a
// node of the cluster keyed by secret.
func tlsConfigs(secret string) (server, client *tls.Config, err error) {
	key := nodeKey(secret)
	pub := key.Public().(ed25519.PublicKey)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "phx cluster node"},
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: making the node certificate: %w", err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	verify := func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errWrongSecret
		}
		leaf, err := x509.ParseCertificate(raw[0])
		if err != nil {
			return errWrongSecret
		}
		if k, ok := leaf.PublicKey.(ed25519.PublicKey); !ok || !k.Equal(pub) {
			return errWrongSecret
		}
		return nil
	}
	server = &tls.Config{
		MinVersion:            tls.VersionTLS13,
		Certificates:          []tls.Certificate{cert},
		ClientAuth:            tls.RequireAnyClientCert,
		VerifyPeerCertificate: verify,
		NextProtos:            []string{"h2"},
	}
	client = &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		// The chain and the host name are not what is checked: verify is
		// (see above).
		InsecureSkipVerify:    true,
		VerifyPeerCertificate: verify,
		NextProtos:            []string{"h2"},
	}
	return server, client, nil
}

// observedCreds wraps the TLS credentials of gRPC to count and log the
// handshakes that fail for want of the secret, on either side.
type observedCreds struct {
	credentials.TransportCredentials
	c *Cluster
}

func (o observedCreds) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	nc, info, err := o.TransportCredentials.ClientHandshake(ctx, authority, conn)
	if err != nil && wrongSecret(err) {
		o.c.refusedBy(authority, reasonSecret, "it does not hold this cluster's secret (-cluster-secret differs)")
	}
	return nc, info, err
}

// ServerHandshake is the door of the cluster listener (door.go): it
// admits conn under the cap, bounds its handshake by HandshakeTimeout,
// and counts, logs (within bounds) and closes at once what fails.
func (o observedCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	c := o.c
	in, ok := c.stats.admit(conn, int64(c.cfg.MaxConnections))
	if !ok {
		// Counted before it is closed: whoever sees the close sees the count.
		c.refuse(remoteHost(conn), reasonTooMany, errTooManyConns)
		_ = conn.Close()
		return nil, nil, errTooManyConns
	}
	// gRPC sets the same deadline (ConnectionTimeout) around the handshake
	// and its HTTP/2 preface, and clears it after; set here too, it holds
	// whatever the server's options.
	_ = conn.SetDeadline(time.Now().Add(c.cfg.HandshakeTimeout))
	nc, info, err := o.TransportCredentials.ServerHandshake(in)
	if err != nil {
		defer in.Close()
		host := remoteHost(conn)
		var ne net.Error
		switch {
		case wrongSecret(err):
			c.refuse(host, reasonSecret, errWrongSecret)
		case errors.As(err, &ne) && ne.Timeout():
			c.refuse(host, reasonTimeout, err)
		case !hungUp(err) || in.read > 0:
			// Bytes that are no TLS client of this cluster: a stranger, or
			// a recording of a node's connection played again. A
			// connect-and-close that sent nothing is a probe.
			c.refuse(host, reasonHandshake, err)
		}
		return nil, nil, err
	}
	in.authenticated()
	return nc, info, nil
}

// hungUp tells a handshake that ended because the other side went away
// (a probe's connect-and-close, a reset, a timeout) from one that failed.
func hungUp(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) || (errors.As(err, &ne) && ne.Timeout())
}

func (o observedCreds) Clone() credentials.TransportCredentials {
	return observedCreds{o.TransportCredentials.Clone(), o.c}
}

// wrongSecret tells a handshake that failed on the keys from one that
// failed on the network (a probe's connect-and-close, a reset): either
// this side found the peer's certificate foreign, or the peer said so of
// ours (a TLS alert).
func wrongSecret(err error) bool {
	if errors.Is(err, errWrongSecret) {
		return true
	}
	var alert tls.AlertError
	if errors.As(err, &alert) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "bad certificate") || strings.Contains(s, "certificate required") ||
		strings.Contains(s, "decrypt error") || strings.Contains(s, "handshake failure")
}
