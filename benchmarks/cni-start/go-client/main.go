// A prototype of kontena-ipam's CNI client in Go (stdlib only), speaking wire.ts's contract:
// POST /Cni.<Verb> with {"env": CNI_*, "config": <stdin>} to ipam.socket; print the answer.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

const defaultSocket = "/run/docker/plugins/kontena-ipam.sock"
const latest = "1.1.0"

var routes = map[string]string{"ADD": "/Cni.Add", "DEL": "/Cni.Del", "CHECK": "/Cni.Check", "GC": "/Cni.Gc", "STATUS": "/Cni.Status"}
var envNames = []string{"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH"}

type cniError struct {
	CniVersion string `json:"cniVersion"`
	Code       int    `json:"code"`
	Msg        string `json:"msg"`
	Details    string `json:"details,omitempty"`
}

func fail(version string, code int, msg, details string) {
	out, _ := json.Marshal(cniError{version, code, msg, details})
	os.Stdout.Write(append(out, '\n'))
	os.Exit(1)
}

func main() {
	command := os.Getenv("CNI_COMMAND")
	if command == "VERSION" {
		fmt.Printf("{\"cniVersion\":%q,\"supportedVersions\":[\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]}\n", latest)
		return
	}
	stdin, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(latest, 5, "cannot read the network configuration on stdin", err.Error())
	}
	var conf struct {
		CniVersion string `json:"cniVersion"`
		Ipam       struct {
			Socket *string `json:"socket"`
		} `json:"ipam"`
	}
	var whole interface{}
	if err := json.Unmarshal(stdin, &whole); err != nil {
		fail(latest, 6, "the network configuration on stdin is not JSON", err.Error())
	}
	if _, object := whole.(map[string]interface{}); !object {
		fail(latest, 6, "the network configuration on stdin is not a JSON object", "")
	}
	if err := json.Unmarshal(stdin, &conf); err != nil {
		fail(latest, 7, "the network configuration's cniVersion or ipam.socket is not a string", err.Error())
	}
	version := conf.CniVersion
	if version == "" {
		version = latest
	}
	socket := defaultSocket
	if conf.Ipam.Socket != nil {
		if len(*conf.Ipam.Socket) == 0 || (*conf.Ipam.Socket)[0] != '/' {
			fail(version, 7, "ipam.socket must be an absolute path of a unix socket", *conf.Ipam.Socket)
		}
		socket = *conf.Ipam.Socket
	}
	route, ok := routes[command]
	if !ok {
		msg := "CNI_COMMAND is missing"
		if command != "" {
			msg = fmt.Sprintf("CNI_COMMAND %q is not a CNI verb (ADD, DEL, CHECK, GC, STATUS, VERSION)", command)
		}
		fail(version, 4, msg, "")
	}
	env := map[string]string{}
	for _, name := range envNames {
		if value, set := os.LookupEnv(name); set {
			env[name] = value
		}
	}
	body, _ := json.Marshal(struct {
		Env    map[string]string `json:"env"`
		Config json.RawMessage   `json:"config"`
	}{env, stdin})
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dialer net.Dialer
			return dialer.DialContext(ctx, "unix", socket)
		},
	}}
	res, err := client.Post("http://kontena-ipam"+route, "application/json", bytes.NewReader(body))
	if err != nil {
		code := 11
		if command == "STATUS" {
			code = 50
		}
		fail(version, code, fmt.Sprintf("kontena-ipam is not answering on %s: is it running on this host?", socket), err.Error())
	}
	reply, _ := io.ReadAll(res.Body)
	var answer map[string]json.RawMessage
	parsed := json.Unmarshal(reply, &answer) == nil
	if res.StatusCode == 200 && parsed {
		if command == "ADD" {
			os.Stdout.Write(append(bytes.TrimSpace(reply), '\n'))
		}
		return
	}
	var e cniError
	if parsed && json.Unmarshal(reply, &e) == nil && e.Msg != "" && e.Code != 0 {
		e.CniVersion = version
		fail(version, e.Code, e.Msg, e.Details)
	}
	fail(version, 999, fmt.Sprintf("kontena-ipam answered HTTP %d", res.StatusCode), string(reply))
}
