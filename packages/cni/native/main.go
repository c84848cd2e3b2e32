// kontena-ipam-cni, the executable a CNI runtime execs as the `kontena-ipam` IPAM plugin.
//
// It is the same client as src/client (TypeScript) and speaks the same contract,
// src/wire.ts: VERSION is answered here; every other verb is POSTed as
// {"env": <the CNI_ variables>, "config": <stdin>} to /Cni.<Verb> on the host's running
// kontena-ipam (ipam.socket, else the default socket), and the answer is printed as a CNI
// result or error object. It never talks to etcd.
//
// Why Go and not the TypeScript client: a runtime execs the plugin on every ADD, CHECK and
// DEL, and node's own start (~100 ms) is more than host-local's whole call. This binary
// starts in about the time of exec itself (benchmarks/cni-start). Only the standard library:
// it parses JSON it is handed and speaks HTTP, which encoding/json and net/http do safely.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// These mirror src/wire.ts; test/client.test.ts runs the same cases against both clients.
const (
	defaultSocket = "/run/docker/plugins/kontena-ipam.sock"
	latestVersion = "1.1.0"
	clientTimeout = 15 * time.Second

	codeInvalidEnvironment = 4
	codeIOFailure          = 5
	codeDecodingFailure    = 6
	codeInvalidConfig      = 7
	codeTryAgainLater      = 11
	codeNotAvailable       = 50
	codeInternal           = 999
)

var (
	supportedVersions = []string{"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}
	routes            = map[string]string{
		"ADD": "/Cni.Add", "DEL": "/Cni.Del", "CHECK": "/Cni.Check", "GC": "/Cni.Gc", "STATUS": "/Cni.Status",
	}
	envNames = []string{"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH"}
)

const usage = `Usage: kontena-ipam-cni   (run by a CNI runtime, not by hand)

A CNI IPAM plugin: install it into the CNI plugin directory as ` + "`kontena-ipam`" + ` (for example
with ` + "`kontena-ipam install-cni`" + `) and name it in a network config as
"ipam": {"type": "kontena-ipam", "network": "NAME", ...}. It reads CNI_COMMAND and the other
CNI_* variables and the network config on stdin, asks this host's running kontena-ipam over its
socket (ipam.socket, default /run/docker/plugins/kontena-ipam.sock), and prints the CNI result
or error object. See docs/cni.md.
`

// outcome is what to print on stdout and the exit code (0 ok, 1 a CNI error).
type outcome struct {
	stdout   []byte
	exitCode int
}

// cniError is a CNI error object as printed on stdout.
type cniError struct {
	CniVersion string `json:"cniVersion"`
	Code       int    `json:"code"`
	Msg        string `json:"msg"`
	Details    string `json:"details,omitempty"`
}

func failure(version string, code int, msg, details string) outcome {
	text, _ := json.Marshal(cniError{version, code, msg, details})
	return outcome{append(text, '\n'), 1}
}

// parsed is what the client reads of the config: only what it needs to reach the daemon.
type parsed struct {
	config  json.RawMessage
	version string
	socket  string
}

func parseConfig(stdin []byte) (parsed, *outcome) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(stdin, &top); err != nil && !json.Valid(stdin) {
		fail := failure(latestVersion, codeDecodingFailure, "the network configuration on stdin is not JSON", err.Error())
		return parsed{}, &fail
	}
	if top == nil {
		fail := failure(latestVersion, codeDecodingFailure, "the network configuration on stdin is not a JSON object", "")
		return parsed{}, &fail
	}
	version := latestVersion
	var named string
	if raw, ok := top["cniVersion"]; ok && json.Unmarshal(raw, &named) == nil {
		version = named
	}
	socket := defaultSocket
	var ipam map[string]json.RawMessage
	if raw, ok := top["ipam"]; ok && json.Unmarshal(raw, &ipam) == nil {
		if raw, ok := ipam["socket"]; ok {
			var path string
			isString := json.Unmarshal(raw, &path) == nil
			if !isString || len(path) == 0 || path[0] != '/' {
				details := path
				if !isString {
					details = string(raw)
				}
				fail := failure(version, codeInvalidConfig, "ipam.socket must be an absolute path of a unix socket", details)
				return parsed{}, &fail
			}
			socket = path
		}
	}
	return parsed{config: json.RawMessage(bytes.TrimSpace(stdin)), version: version, socket: socket}, nil
}

// cniEnv keeps the CNI_ variables only: the rest of the runtime's environment is not ours to send.
func cniEnv() map[string]string {
	env := map[string]string{}
	for _, name := range envNames {
		if value, set := os.LookupEnv(name); set {
			env[name] = value
		}
	}
	return env
}

// reply is the daemon's answer: its HTTP status and body.
type reply struct {
	status int
	body   []byte
}

// post POSTs body to route on the unix socket, giving up after clientTimeout.
func post(socket, route string, body []byte) (reply, error) {
	client := &http.Client{
		Timeout: clientTimeout,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dialer net.Dialer
			return dialer.DialContext(ctx, "unix", socket)
		}},
	}
	res, err := client.Post("http://kontena-ipam"+route, "application/json", bytes.NewReader(body))
	if err != nil {
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			return reply{}, fmt.Errorf("no answer within %d ms", clientTimeout.Milliseconds())
		}
		return reply{}, err
	}
	defer res.Body.Close()
	text, err := io.ReadAll(res.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{res.StatusCode, text}, nil
}

// run runs one CNI call; it never panics on any input.
func run(command string, stdin []byte) outcome {
	if command == "VERSION" {
		text, _ := json.Marshal(map[string]interface{}{"cniVersion": latestVersion, "supportedVersions": supportedVersions})
		return outcome{append(text, '\n'), 0}
	}
	config, fail := parseConfig(stdin)
	if fail != nil {
		return *fail
	}
	route, known := routes[command]
	if !known {
		msg := "CNI_COMMAND is missing"
		if command != "" {
			quoted, _ := json.Marshal(command)
			msg = fmt.Sprintf("CNI_COMMAND %s is not a CNI verb (ADD, DEL, CHECK, GC, STATUS, VERSION)", quoted)
		}
		return failure(config.version, codeInvalidEnvironment, msg, "")
	}
	body, _ := json.Marshal(struct {
		Env    map[string]string `json:"env"`
		Config json.RawMessage   `json:"config"`
	}{cniEnv(), config.config})
	answer, err := post(config.socket, route, body)
	if err != nil {
		// STATUS asks exactly this; for the other verbs the runtime may try again later.
		return failure(config.version, unavailableCode(command),
			fmt.Sprintf("kontena-ipam is not answering on %s: is it running on this host?", config.socket), err.Error())
	}
	return printable(command, config.version, answer)
}

func unavailableCode(command string) int {
	if command == "STATUS" {
		return codeNotAvailable
	}
	return codeTryAgainLater
}

// printable turns the daemon's reply into what to print.
func printable(command, version string, answer reply) outcome {
	var body map[string]json.RawMessage
	isObject := json.Unmarshal(answer.body, &body) == nil && body != nil
	if answer.status == http.StatusOK && isObject {
		if command != "ADD" {
			return outcome{nil, 0}
		}
		var compact bytes.Buffer
		_ = json.Compact(&compact, answer.body)
		return outcome{append(compact.Bytes(), '\n'), 0}
	}
	var code float64
	var msg string
	if isObject && json.Unmarshal(body["code"], &code) == nil && json.Unmarshal(body["msg"], &msg) == nil {
		// The daemon's CNI error, with the caller's cniVersion unless it named one.
		if _, named := body["cniVersion"]; !named {
			body["cniVersion"], _ = json.Marshal(version)
		}
		text, _ := json.Marshal(body)
		return outcome{append(text, '\n'), 1}
	}
	// Not our CNI routes' answer: an older kontena-ipam, or a failure before the route ran.
	var detail string
	if json.Unmarshal(body["Err"], &detail) != nil {
		detail = string(answer.body)
		if len(detail) > 200 {
			detail = detail[:200]
		}
	}
	if answer.status == http.StatusServiceUnavailable {
		return failure(version, unavailableCode(command), detail, "")
	}
	return failure(version, codeInternal, fmt.Sprintf("kontena-ipam answered HTTP %d: %s", answer.status, detail), "")
}

func main() {
	if len(os.Args) > 1 {
		if os.Args[1] == "--help" || os.Args[1] == "-h" {
			os.Stdout.WriteString(usage)
			os.Exit(0)
		}
		os.Stderr.WriteString(usage)
		os.Exit(2)
	}
	command := os.Getenv("CNI_COMMAND")
	var stdin []byte
	if command != "VERSION" {
		var err error
		if stdin, err = io.ReadAll(os.Stdin); err != nil {
			result := failure(latestVersion, codeIOFailure, "cannot read the network configuration on stdin", err.Error())
			os.Stdout.Write(result.stdout)
			os.Exit(result.exitCode)
		}
	}
	result := run(command, stdin)
	os.Stdout.Write(result.stdout)
	os.Exit(result.exitCode)
}
