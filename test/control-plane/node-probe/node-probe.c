/*
 * The node test's pod program (static, no base image): proves a pod got a ServiceAccount token,
 * reaches the API server through the `kubernetes` Service (kube-proxy's DNAT), and can write
 * to a mounted volume. Usage: node-probe [FILE-TO-WRITE]; exit 0 when every check passed.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(const char *what) {
  perror(what);
  return 1;
}

int main(int argc, char **argv) {
  const char *token = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  if (access(token, R_OK) != 0) return fail("serviceaccount token");
  const char *host = getenv("KUBERNETES_SERVICE_HOST");
  const char *port = getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !port) {
    fprintf(stderr, "KUBERNETES_SERVICE_HOST/PORT not set\n");
    return 1;
  }
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)atoi(port));
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) return fail("service address");
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) return fail("connect to the kubernetes Service");
  close(fd);
  printf("connected to the kubernetes Service at %s:%s\n", host, port);
  /* PROBE_DENIED=ip:port: an address the pod must not reach; reports what happened */
  const char *denied = getenv("PROBE_DENIED");
  if (denied) {
    char ip[64];
    const char *colon = strrchr(denied, ':');
    if (!colon || (size_t)(colon - denied) >= sizeof ip) return fail("PROBE_DENIED");
    memcpy(ip, denied, (size_t)(colon - denied));
    ip[colon - denied] = 0;
    struct sockaddr_in other;
    memset(&other, 0, sizeof other);
    other.sin_family = AF_INET;
    other.sin_port = htons((unsigned short)atoi(colon + 1));
    if (inet_pton(AF_INET, ip, &other.sin_addr) != 1) return fail("PROBE_DENIED address");
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    if (probe < 0) return fail("socket");
    if (connect(probe, (struct sockaddr *)&other, sizeof other) == 0) printf("reached %s\n", denied);
    else printf("refused %s\n", denied);
    close(probe);
  }
  if (argc > 1) {
    int out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || write(out, "written by a pod\n", 17) != 17 || fsync(out) != 0 || close(out) != 0) return fail(argv[1]);
    printf("wrote %s\n", argv[1]);
  }
  return 0;
}
