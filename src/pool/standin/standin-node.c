/*
 * Stand-in for cardano-node (no registry is reachable here, so the real image cannot be pulled). It honours the
 * contract the pool templates rely on, and nothing more:
 *   standin-node run --config F --topology F --database-path D --socket-path S --host-addr A --port P
 *                    [--shelley-kes-key F --shelley-vrf-key F --shelley-operational-certificate F]
 * - reads every file it is given (and fails, as the node does, when one is missing or unreadable), printing only
 *   each path and its size, never the contents;
 * - listens on the node-to-node port (answers each connection with one line) and on the node socket;
 * - serves Prometheus text on PROMETHEUS_PORT (default 12798) with the node's metric names: the slot advances one
 *   a second from what the database folder remembers, peers are the topology's "address" entries, KES periods
 *   left come from STANDIN_KES_PERIODS (default 62) when a KES key was given;
 * - keeps its state in the database folder (a start counter and the last slot), so a volume that survives a
 *   restart is visible from outside;
 * - exits 0 on SIGINT/SIGTERM after removing its socket; SIGUSR2 makes it crash (exit 70), so a test can make a
 *   node die from inside its container (PID 1 ignores an unhandled SIGKILL sent from its own namespace).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stopping = 0;
static void on_signal(int sig) { (void)sig; stopping = 1; }
static void on_crash(int sig) { (void)sig; _exit(70); }

static const char *arg(int argc, char **argv, const char *name) {
  for (int i = 1; i + 1 < argc; i++) if (strcmp(argv[i], name) == 0) return argv[i + 1];
  return NULL;
}

/* Reads a whole file (bounded); exits 1 like the node does when a file it was given cannot be read. */
static char *slurp(const char *what, const char *path, long *size) {
  FILE *f = fopen(path, "rb");
  if (!f) { fprintf(stderr, "standin-node: cannot read %s %s: %s\n", what, path, strerror(errno)); exit(1); }
  char *buf = malloc(1 << 20);
  long n = (long)fread(buf, 1, (1 << 20) - 1, f);
  fclose(f);
  buf[n] = 0;
  *size = n;
  printf("standin-node: read %s %s (%ld bytes)\n", what, path, n);
  return buf;
}

static long read_number(const char *path, long fallback) {
  FILE *f = fopen(path, "r");
  long v = fallback;
  if (f) { if (fscanf(f, "%ld", &v) != 1) v = fallback; fclose(f); }
  return v;
}

static void write_number(const char *path, long v) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.new", path);
  FILE *f = fopen(tmp, "w");
  if (!f) return;
  fprintf(f, "%ld\n", v);
  fflush(f);
  fsync(fileno(f));
  fclose(f);
  rename(tmp, path);
}

static int tcp_listen(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port), .sin_addr.s_addr = htonl(INADDR_ANY) };
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 64) != 0) { fprintf(stderr, "standin-node: cannot listen on %d: %s\n", port, strerror(errno)); exit(1); }
  return fd;
}

static int count(const char *text, const char *needle) {
  int n = 0;
  for (const char *p = text; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGUSR2, on_crash);
  const char *config = arg(argc, argv, "--config"), *topology = arg(argc, argv, "--topology");
  const char *db = arg(argc, argv, "--database-path"), *sock = arg(argc, argv, "--socket-path");
  const char *port_s = arg(argc, argv, "--port");
  if (!config || !topology || !db || !sock || !port_s) { fprintf(stderr, "standin-node: run needs --config --topology --database-path --socket-path --port\n"); return 2; }
  long size;
  slurp("config", config, &size);
  char *topo = slurp("topology", topology, &size);
  int peers = count(topo, "\"address\"");
  const char *kes = arg(argc, argv, "--shelley-kes-key"), *vrf = arg(argc, argv, "--shelley-vrf-key"), *cert = arg(argc, argv, "--shelley-operational-certificate");
  int producer = kes != NULL;
  if (kes) { free(slurp("KES key", kes, &size)); free(slurp("VRF key", vrf ? vrf : "(missing)", &size)); free(slurp("operational certificate", cert ? cert : "(missing)", &size)); }
  const char *kes_env = getenv("STANDIN_KES_PERIODS");
  long kes_left = producer ? (kes_env ? atol(kes_env) : 62) : 0;
  const char *prom_env = getenv("PROMETHEUS_PORT");
  int prom_port = prom_env ? atoi(prom_env) : 12798;

  mkdir(db, 0755);
  char starts_path[4096], slot_path[4096];
  snprintf(starts_path, sizeof starts_path, "%s/standin.starts", db);
  snprintf(slot_path, sizeof slot_path, "%s/standin.slot", db);
  long starts = read_number(starts_path, 0) + 1;
  write_number(starts_path, starts);
  long base_slot = read_number(slot_path, 0);
  time_t began = time(NULL);
  printf("standin-node: start %ld, role %s, slot %ld, %d peers\n", starts, producer ? "block-producer" : "relay", base_slot, peers);

  int node = tcp_listen(atoi(port_s));
  int prom = tcp_listen(prom_port);
  unlink(sock);
  int local = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un u = { .sun_family = AF_UNIX };
  strncpy(u.sun_path, sock, sizeof u.sun_path - 1);
  if (bind(local, (struct sockaddr *)&u, sizeof u) != 0 || listen(local, 16) != 0) { fprintf(stderr, "standin-node: cannot create socket %s: %s\n", sock, strerror(errno)); return 1; }

  struct pollfd fds[3] = { { node, POLLIN, 0 }, { prom, POLLIN, 0 }, { local, POLLIN, 0 } };
  long last_saved = -1;
  while (!stopping) {
    long slot = base_slot + (long)(time(NULL) - began);
    if (slot != last_saved) { write_number(slot_path, slot); last_saved = slot; }
    if (poll(fds, 3, 500) <= 0) continue;
    for (int i = 0; i < 3; i++) {
      if (!(fds[i].revents & POLLIN)) continue;
      int c = accept(fds[i].fd, NULL, NULL);
      if (c < 0) continue;
      struct timeval tv = { 1, 0 };
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      if (i == 1) {
        char req[1024];
        (void)!read(c, req, sizeof req);
        char body[1024];
        int n = snprintf(body, sizeof body,
          "# TYPE cardano_node_metrics_slotNum_int gauge\ncardano_node_metrics_slotNum_int %ld\n"
          "# TYPE cardano_node_metrics_connectedPeers_int gauge\ncardano_node_metrics_connectedPeers_int %d\n"
          "# TYPE cardano_node_metrics_remainingKESPeriods_int gauge\ncardano_node_metrics_remainingKESPeriods_int %ld\n"
          "standin_node_starts_total %ld\n", slot, peers, kes_left, starts);
        char head[256];
        int h = snprintf(head, sizeof head, "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", n);
        (void)!write(c, head, (size_t)h);
        (void)!write(c, body, (size_t)n);
      } else {
        const char *hello = i == 0 ? "standin-node node-to-node\n" : "standin-node node-to-client\n";
        (void)!write(c, hello, strlen(hello));
      }
      close(c);
    }
  }
  unlink(sock);
  printf("standin-node: stopped at slot %ld\n", base_slot + (long)(time(NULL) - began));
  return 0;
}
