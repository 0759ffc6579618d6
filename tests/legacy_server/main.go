// A tiny TLS server for the probe's legacy tests: it offers exactly the cipher suites named on
// the command line (Go's crypto/tls still implements 3DES and RC4, which Debian's OpenSSL no
// longer ships), listens on 127.0.0.1 on an ephemeral port, prints the port, and completes
// handshakes until killed.
//
// Usage: legacy_server CERT.pem KEY.pem MINVERSION MAXVERSION SUITE...
// Versions: 1.0 1.1 1.2 1.3. Suites: 3des, rc4, ecdhe-aes-gcm, ecdhe-aes-cbc. The extra word
// `hsts` makes it answer one HTTP request per connection with a Strict-Transport-Security
// header (a legacy-only host that does send HSTS).
package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"time"
)

func version(s string) uint16 {
	switch s {
	case "1.0":
		return tls.VersionTLS10
	case "1.1":
		return tls.VersionTLS11
	case "1.3":
		return tls.VersionTLS13
	}
	return tls.VersionTLS12
}

func main() {
	if len(os.Args) < 6 {
		fmt.Fprintln(os.Stderr, "usage: legacy_server CERT KEY MIN MAX SUITE...")
		os.Exit(2)
	}
	cert, err := tls.LoadX509KeyPair(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var suites []uint16
	hsts := false
	for _, s := range os.Args[5:] {
		switch s {
		case "hsts":
			hsts = true
		case "ecdhe-aes-cbc":
			suites = append(suites, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA)
		case "3des":
			suites = append(suites, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA)
		case "rc4":
			suites = append(suites, tls.TLS_RSA_WITH_RC4_128_SHA, tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA)
		case "ecdhe-aes-gcm":
			suites = append(suites, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)
		}
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		CipherSuites: suites,
		MinVersion:   version(os.Args[3]),
		MaxVersion:   version(os.Args[4]),
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go func(c net.Conn) {
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if tc, ok := c.(*tls.Conn); ok {
				if tc.Handshake() != nil || !hsts {
					return
				}
				r := bufio.NewReader(tc)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" || line == "\n" {
						break
					}
				}
				tc.Write([]byte("HTTP/1.1 200 OK\r\nStrict-Transport-Security: max-age=31536000\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			}
		}(c)
	}
}
