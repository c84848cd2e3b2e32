// Probe: the CNI env as x-cni-* headers, stdin as the body, over a unix socket; prints the body.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
)

func main() {
	in, _ := io.ReadAll(os.Stdin)
	sock := os.Getenv("KONTENA_IPAM_SOCKET")
	if sock == "" {
		sock = "/run/docker/plugins/kontena-ipam.sock"
	}
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	req, _ := http.NewRequest("POST", "http://kontena-ipam/cni", bytes.NewReader(in))
	req.Header.Set("Content-Type", "application/json")
	for _, k := range []string{"COMMAND", "CONTAINERID", "NETNS", "IFNAME", "ARGS", "PATH"} {
		if v, ok := os.LookupEnv("CNI_" + k); ok {
			req.Header.Set("x-cni-"+strings.ToLower(k), v)
		}
	}
	res, err := client.Do(req)
	if err != nil {
		fmt.Printf("{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":%q}\n", err.Error())
		os.Exit(1)
	}
	out, _ := io.ReadAll(res.Body)
	os.Stdout.Write(append(out, '\n'))
	if res.StatusCode != 200 {
		os.Exit(1)
	}
}
