/* Probe: the CNI env as x-cni-* headers, stdin as the body, over a unix socket; prints the body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

static char in[1 << 20], req[(1 << 20) + 8192], resp[1 << 20];

static int writeall(int fd, const char *p, size_t n) {
  while (n > 0) { ssize_t w = write(fd, p, n); if (w <= 0) return -1; p += w; n -= (size_t)w; }
  return 0;
}

int main(void) {
  size_t n = 0; ssize_t r;
  while ((r = read(0, in + n, sizeof in - n)) > 0) n += (size_t)r;
  const char *sock = getenv("KONTENA_IPAM_SOCKET"); if (!sock) sock = "/run/docker/plugins/kontena-ipam.sock";
  static const char *keys[] = {"COMMAND", "CONTAINERID", "NETNS", "IFNAME", "ARGS", "PATH"};
  int len = snprintf(req, 8192, "POST /cni HTTP/1.1\r\nHost: kontena-ipam\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n", n);
  for (int i = 0; i < 6; i++) {
    char name[32]; snprintf(name, sizeof name, "CNI_%s", keys[i]);
    const char *v = getenv(name); if (!v) continue;
    char lower[16]; size_t j = 0; for (; keys[i][j]; j++) lower[j] = (char)(keys[i][j] | 0x20); lower[j] = 0;
    len += snprintf(req + len, 8192 - (size_t)len, "x-cni-%s: %s\r\n", lower, v);
  }
  len += snprintf(req + len, 8192 - (size_t)len, "\r\n");
  memcpy(req + len, in, n);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strncpy(addr.sun_path, sock, sizeof addr.sun_path - 1);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || writeall(fd, req, (size_t)len + n) < 0) {
    printf("{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"kontena-ipam is not answering on %s\"}\n", sock);
    return 1;
  }
  size_t m = 0;
  while ((r = read(fd, resp + m, sizeof resp - 1 - m)) > 0) m += (size_t)r;
  resp[m] = 0;
  char *body = strstr(resp, "\r\n\r\n");
  int status = m > 12 ? atoi(resp + 9) : 0;
  if (!body) { printf("{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"no reply\"}\n"); return 1; }
  printf("%s\n", body + 4);
  return status == 200 ? 0 : 1;
}
