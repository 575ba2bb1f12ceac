/* tls.c - `drover tls ca create` and `drover tls cert create -server|-client|-cli`,
 * as `nomad tls`: a cluster CA and the certificates of servers, agents and the
 * CLI, written to the current directory. Keys are ECDSA P-256; every key, serial
 * and signature comes from GnuTLS's x509 API (no crypto of our own). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/error.h"
#include "common/macros.h"
#include "common/tls.h"

#define DAYS_MAX 36500
#define EXTRA_NAMES_MAX 64
#define NAME_MAX_LEN 253

static bool flag(const char *name, const char *a) {
        if (a[0] == '-' && a[1] == '-')
                a++;
        return a[0] == '-' && strcmp(a + 1, name) == 0;
}

static int parse_days(const char *s, int *ret) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < 1 || v > DAYS_MAX) {
                fprintf(stderr, "drover tls: -days must be a whole number of days from 1 to %d (got \"%s\")\n",
                        DAYS_MAX, s);
                return -EINVAL;
        }
        *ret = (int)v;
        return 0;
}

/* A DNS name or a domain/region label: letters, digits, '-', '.', and '*' for wildcards. */
static bool dns_ok(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > NAME_MAX_LEN)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
                      *p == '.' || *p == '*'))
                        return false;
        return true;
}

static void free_datum(gnutls_datum_t *d) {
        gnutls_free(d->data);
        d->data = NULL;
}

/* Write data to a new file (never over an existing one), with mode. */
static int write_new(const char *path, const gnutls_datum_t *d, mode_t mode) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd < 0) {
                fprintf(stderr, "drover tls: cannot create %s: %s%s\n", path, strerror(errno),
                        errno == EEXIST ? " (remove it or run elsewhere: existing files are never overwritten)" : "");
                return -errno;
        }
        size_t off = 0;
        while (off < d->size) {
                ssize_t n = write(fd, d->data + off, d->size - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        fprintf(stderr, "drover tls: writing %s: %s\n", path, strerror(errno));
                        return -errno;
                }
                off += (size_t)n;
        }
        return 0;
}

static bool exists(const char *path) {
        return access(path, F_OK) == 0;
}

static int gnutls_fail(const char *what, int g) {
        fprintf(stderr, "drover tls: %s: %s\n", what, gnutls_strerror(g));
        return -EIO;
}

/* A new certificate's common parts: version, random serial, validity, key, key IDs. */
static int crt_common(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, int days) {
        unsigned char serial[16];
        int g = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
        if (g < 0)
                return gnutls_fail("random serial", g);
        serial[0] &= 0x7f; /* a positive INTEGER */
        time_t now = time(NULL);
        unsigned char kid[64];
        size_t kid_len = sizeof(kid);
        if ((g = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
            (g = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
            (g = gnutls_x509_crt_set_activation_time(crt, now - 60)) < 0 ||
            (g = gnutls_x509_crt_set_expiration_time(crt, now + (time_t)days * 86400)) < 0 ||
            (g = gnutls_x509_crt_set_key(crt, key)) < 0 ||
            (g = gnutls_x509_crt_get_key_id(crt, 0, kid, &kid_len)) < 0 ||
            (g = gnutls_x509_crt_set_subject_key_id(crt, kid, kid_len)) < 0)
                return gnutls_fail("building the certificate", g);
        return 0;
}

static int new_key(gnutls_x509_privkey_t *ret) {
        int g = gnutls_x509_privkey_init(ret);
        if (g == 0)
                g = gnutls_x509_privkey_generate2(*ret, GNUTLS_PK_ECDSA,
                                                  GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0, NULL, 0);
        return g < 0 ? gnutls_fail("generating a key", g) : 0;
}

/* Sign crt with the issuer's certificate and key (SHA-256). */
static int sign(gnutls_x509_crt_t crt, gnutls_x509_crt_t issuer, gnutls_x509_privkey_t issuer_key) {
        gnutls_privkey_t pk = NULL;
        int g = gnutls_privkey_init(&pk);
        if (g == 0)
                g = gnutls_privkey_import_x509(pk, issuer_key, 0);
        if (g == 0)
                g = gnutls_x509_crt_privkey_sign(crt, issuer, pk, GNUTLS_DIG_SHA256, 0);
        if (pk)
                gnutls_privkey_deinit(pk);
        return g < 0 ? gnutls_fail("signing", g) : 0;
}

/* Export crt and key as PEM and write both, the key first (0600), the certificate 0644. */
static int write_pair(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, const char *crt_path, const char *key_path) {
        gnutls_datum_t c = {0}, k = {0};
        int g = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &c);
        if (g == 0)
                g = gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &k);
        int r = g < 0 ? gnutls_fail("exporting", g) : 0;
        if (r == 0)
                r = write_new(key_path, &k, 0600);
        if (r == 0) {
                r = write_new(crt_path, &c, 0644);
                if (r < 0)
                        unlink(key_path);
        }
        free_datum(&c);
        free_datum(&k);
        if (r == 0)
                printf("==> Certificate saved to: %s\n==> Key saved to: %s\n", crt_path, key_path);
        return r;
}

/* ---- tls ca create ---- */

static const char ca_create_help[] =
    "Usage: drover tls ca create [-days=<n>] [-domain=<domain>] [-common-name=<name>]\n\n"
    "  Create a certificate authority for the cluster: <domain>-agent-ca.pem and\n"
    "  <domain>-agent-ca-key.pem (nomad-agent-ca.pem by default) in the current\n"
    "  directory. Existing files are never overwritten.\n\n"
    "  -days=1825            validity in days (1 to 36500)\n"
    "  -domain=nomad         the domain of the agents' names (server.<region>.<domain>)\n"
    "  -common-name=<name>   the CA's subject CN (default: \"Drover Agent CA\" and the serial)\n";

static int ca_create(struct cli *c, int argc, char **argv) {
        (void)c;
        const char *days_s = "1825", *domain = "nomad", *cn = NULL;
        for (int i = 0; i < argc; i++) {
                if (cli_opt("days", argc, argv, &i, &days_s) || cli_opt("domain", argc, argv, &i, &domain) ||
                    cli_opt("common-name", argc, argv, &i, &cn))
                        continue;
                fprintf(stderr, "drover tls ca create: unexpected argument \"%s\"\n\n%s", argv[i], ca_create_help);
                return 1;
        }
        int days;
        if (parse_days(days_s, &days) < 0)
                return 1;
        if (!dns_ok(domain) || strchr(domain, '*')) {
                fprintf(stderr, "drover tls ca create: -domain \"%s\" is not a DNS name\n", domain);
                return 1;
        }
        if (cn && (strlen(cn) == 0 || strlen(cn) > 64 || strpbrk(cn, ",+=\"\\<>;#"))) {
                fprintf(stderr,
                        "drover tls ca create: -common-name must be 1 to 64 characters without , + = \" \\ < > ; #\n");
                return 1;
        }
        char crt_path[300], key_path[300];
        snprintf(crt_path, sizeof(crt_path), "%s-agent-ca.pem", domain);
        snprintf(key_path, sizeof(key_path), "%s-agent-ca-key.pem", domain);
        if (exists(crt_path) || exists(key_path)) {
                fprintf(stderr, "drover tls ca create: %s or %s already exists (never overwritten)\n", crt_path,
                        key_path);
                return 1;
        }
        gnutls_x509_privkey_t key = NULL;
        gnutls_x509_crt_t crt = NULL;
        int r = new_key(&key);
        int g = 0;
        if (r == 0 && (g = gnutls_x509_crt_init(&crt)) < 0)
                r = gnutls_fail("certificate", g);
        if (r == 0)
                r = crt_common(crt, key, days);
        if (r == 0) {
                unsigned char serial[16];
                size_t sl = sizeof(serial);
                gnutls_x509_crt_get_serial(crt, serial, &sl);
                char dn[200];
                if (cn)
                        snprintf(dn, sizeof(dn), "CN=%s,O=drover", cn);
                else
                        snprintf(dn, sizeof(dn), "CN=Drover Agent CA %02x%02x%02x%02x,O=drover", serial[0], serial[1],
                                 serial[2], serial[3]);
                const char *bad = NULL;
                if ((g = gnutls_x509_crt_set_dn(crt, dn, &bad)) < 0 ||
                    (g = gnutls_x509_crt_set_basic_constraints(crt, 1, -1)) < 0 ||
                    (g = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN |
                                                                GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0)
                        r = gnutls_fail("building the CA", g);
        }
        if (r == 0)
                r = sign(crt, crt, key);
        if (r == 0)
                r = write_pair(crt, key, crt_path, key_path);
        if (crt)
                gnutls_x509_crt_deinit(crt);
        if (key)
                gnutls_x509_privkey_deinit(key);
        return r < 0 ? 1 : 0;
}

/* ---- tls cert create ---- */

static const char cert_create_help[] =
    "Usage: drover tls cert create -server|-client|-cli [options]\n\n"
    "  Create a certificate signed by the cluster CA, as nomad tls cert create:\n"
    "  <region>-server-<domain>.pem (names server.<region>.<domain>, localhost, 127.0.0.1;\n"
    "  serverAuth and clientAuth), <region>-client-<domain>.pem (client.<region>.<domain>;\n"
    "  both usages) or <region>-cli-<domain>.pem (cli.<region>.<domain>; clientAuth), with\n"
    "  its -key.pem, in the current directory. Existing files are never overwritten.\n\n"
    "  -ca=<domain>-agent-ca.pem        the CA certificate\n"
    "  -key=<domain>-agent-ca-key.pem   the CA key\n"
    "  -days=365                        validity in days (1 to 36500)\n"
    "  -domain=nomad  -region=global    the names' parts\n"
    "  -additional-dnsname=<name>       another DNS name (repeatable, up to 64)\n"
    "  -additional-ipaddress=<ip>       another IP address (repeatable, up to 64)\n";

static int load_ca(const char *crt_path, const char *key_path, gnutls_x509_crt_t *ret_crt,
                   gnutls_x509_privkey_t *ret_key) {
        struct error err = {0};
        _cleanup_free_ char *cp = NULL, *kp = NULL;
        if (tls_read_file(crt_path, &cp, &err) < 0 || tls_read_file(key_path, &kp, &err) < 0) {
                fprintf(stderr, "drover tls cert create: the CA: %s (drover tls ca create makes one; or -ca, -key)\n",
                        err.msg);
                return -ENOENT;
        }
        gnutls_datum_t cd = {(unsigned char *)cp, (unsigned)strlen(cp)};
        gnutls_datum_t kd = {(unsigned char *)kp, (unsigned)strlen(kp)};
        gnutls_x509_crt_t crt = NULL;
        gnutls_x509_privkey_t key = NULL;
        int g = gnutls_x509_crt_init(&crt);
        if (g == 0)
                g = gnutls_x509_crt_import(crt, &cd, GNUTLS_X509_FMT_PEM);
        if (g < 0) {
                fprintf(stderr, "drover tls cert create: %s: %s\n", crt_path, gnutls_strerror(g));
                goto fail;
        }
        g = gnutls_x509_privkey_init(&key);
        if (g == 0)
                g = gnutls_x509_privkey_import(key, &kd, GNUTLS_X509_FMT_PEM);
        if (g < 0) {
                fprintf(stderr, "drover tls cert create: %s: %s\n", key_path, gnutls_strerror(g));
                goto fail;
        }
        unsigned ca = 0;
        if (gnutls_x509_crt_get_basic_constraints(crt, NULL, &ca, NULL) < 0 || !ca) {
                fprintf(stderr, "drover tls cert create: %s is not a CA certificate\n", crt_path);
                goto fail;
        }
        /* the key must be the CA's: compare the public key IDs */
        unsigned char a[64], b[64];
        size_t al = sizeof(a), bl = sizeof(b);
        if (gnutls_x509_crt_get_key_id(crt, 0, a, &al) < 0 || gnutls_x509_privkey_get_key_id(key, 0, b, &bl) < 0 ||
            al != bl || memcmp(a, b, al) != 0) {
                fprintf(stderr, "drover tls cert create: %s is not the key of %s\n", key_path, crt_path);
                goto fail;
        }
        *ret_crt = crt;
        *ret_key = key;
        return 0;
fail:
        if (crt)
                gnutls_x509_crt_deinit(crt);
        if (key)
                gnutls_x509_privkey_deinit(key);
        return -EINVAL;
}

static int add_ip(gnutls_x509_crt_t crt, const char *ip) {
        unsigned char buf[16];
        size_t len = 4;
        if (inet_pton(AF_INET, ip, buf) != 1) {
                len = 16;
                if (inet_pton(AF_INET6, ip, buf) != 1) {
                        fprintf(stderr, "drover tls cert create: \"%s\" is not an IP address\n", ip);
                        return -EINVAL;
                }
        }
        int g = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, buf, (unsigned)len, GNUTLS_FSAN_APPEND);
        return g < 0 ? gnutls_fail("IP address", g) : 0;
}

static int add_dns(gnutls_x509_crt_t crt, const char *name) {
        if (!dns_ok(name)) {
                fprintf(stderr,
                        "drover tls cert create: \"%s\" is not a DNS name (letters, digits, - . *; at most %d)\n", name,
                        NAME_MAX_LEN);
                return -EINVAL;
        }
        int g = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, name, (unsigned)strlen(name),
                                                     GNUTLS_FSAN_APPEND);
        return g < 0 ? gnutls_fail("DNS name", g) : 0;
}

static int cert_create(struct cli *c, int argc, char **argv) {
        /* -region is also the CLI's global flag, which the common parser takes first. */
        const char *role = NULL, *ca_path = NULL, *key_path = NULL, *days_s = "365", *domain = "nomad",
                   *region = c && c->region && *c->region ? c->region : "global", *v = NULL;
        const char *dns[EXTRA_NAMES_MAX], *ips[EXTRA_NAMES_MAX];
        size_t n_dns = 0, n_ips = 0;
        for (int i = 0; i < argc; i++) {
                if (flag("server", argv[i]) || flag("client", argv[i]) || flag("cli", argv[i])) {
                        const char *r = argv[i] + (argv[i][1] == '-' ? 2 : 1);
                        if (role && strcmp(role, r) != 0) {
                                fprintf(stderr, "drover tls cert create: one of -server, -client, -cli\n");
                                return 1;
                        }
                        role = r;
                        continue;
                }
                if (cli_opt("ca", argc, argv, &i, &ca_path) || cli_opt("key", argc, argv, &i, &key_path) ||
                    cli_opt("days", argc, argv, &i, &days_s) || cli_opt("domain", argc, argv, &i, &domain) ||
                    cli_opt("region", argc, argv, &i, &region))
                        continue;
                bool is_dns = cli_opt("additional-dnsname", argc, argv, &i, &v);
                if (is_dns || cli_opt("additional-ipaddress", argc, argv, &i, &v)) {
                        size_t *n = is_dns ? &n_dns : &n_ips;
                        if (*n >= EXTRA_NAMES_MAX) {
                                fprintf(stderr, "drover tls cert create: at most %d -additional-%s\n", EXTRA_NAMES_MAX,
                                        is_dns ? "dnsname" : "ipaddress");
                                return 1;
                        }
                        (is_dns ? dns : ips)[(*n)++] = v;
                        continue;
                }
                fprintf(stderr, "drover tls cert create: unexpected argument \"%s\"\n\n%s", argv[i], cert_create_help);
                return 1;
        }
        if (!role) {
                fprintf(stderr, "drover tls cert create: say which: -server, -client or -cli\n\n%s", cert_create_help);
                return 1;
        }
        int days;
        if (parse_days(days_s, &days) < 0)
                return 1;
        if (!dns_ok(domain) || strchr(domain, '*') || !dns_ok(region) || strchr(region, '*') ||
            strlen(domain) + strlen(region) > 200) {
                fprintf(stderr, "drover tls cert create: -domain and -region must be DNS labels\n");
                return 1;
        }
        char def_ca[300], def_key[300], name[300], crt_path[300], out_key[300];
        snprintf(def_ca, sizeof(def_ca), "%s-agent-ca.pem", domain);
        snprintf(def_key, sizeof(def_key), "%s-agent-ca-key.pem", domain);
        snprintf(name, sizeof(name), "%s.%s.%s", role, region, domain);
        snprintf(crt_path, sizeof(crt_path), "%s-%s-%s.pem", region, role, domain);
        snprintf(out_key, sizeof(out_key), "%s-%s-%s-key.pem", region, role, domain);
        for (size_t i = 0; i < n_ips; i++) {
                unsigned char buf[16];
                if (inet_pton(AF_INET, ips[i], buf) != 1 && inet_pton(AF_INET6, ips[i], buf) != 1) {
                        fprintf(stderr, "drover tls cert create: \"%s\" is not an IP address\n", ips[i]);
                        return 1;
                }
        }
        for (size_t i = 0; i < n_dns; i++)
                if (!dns_ok(dns[i])) {
                        fprintf(stderr, "drover tls cert create: \"%s\" is not a DNS name (letters, digits, - . *)\n",
                                dns[i]);
                        return 1;
                }
        if (exists(crt_path) || exists(out_key)) {
                fprintf(stderr, "drover tls cert create: %s or %s already exists (never overwritten)\n", crt_path,
                        out_key);
                return 1;
        }
        gnutls_x509_crt_t ca = NULL, crt = NULL;
        gnutls_x509_privkey_t ca_key = NULL, key = NULL;
        int r = load_ca(ca_path ? ca_path : def_ca, key_path ? key_path : def_key, &ca, &ca_key);
        if (r == 0)
                r = new_key(&key);
        int g = 0;
        if (r == 0 && (g = gnutls_x509_crt_init(&crt)) < 0)
                r = gnutls_fail("certificate", g);
        if (r == 0) {
                /* not beyond the CA's own expiry */
                time_t ca_end = gnutls_x509_crt_get_expiration_time(ca);
                time_t now = time(NULL);
                if (ca_end != (time_t)-1 && now + (time_t)days * 86400 > ca_end)
                        days = ca_end > now ? (int)((ca_end - now) / 86400) : 0;
                if (days < 1) {
                        fprintf(stderr, "drover tls cert create: the CA expires within a day: make a new one\n");
                        r = -EINVAL;
                }
        }
        if (r == 0)
                r = crt_common(crt, key, days);
        if (r == 0) {
                char dn[320];
                snprintf(dn, sizeof(dn), "CN=%s", name);
                const char *bad = NULL;
                unsigned char akid[64];
                size_t akid_len = sizeof(akid);
                if ((g = gnutls_x509_crt_set_dn(crt, dn, &bad)) < 0 ||
                    (g = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
                    (g = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE |
                                                                GNUTLS_KEY_KEY_ENCIPHERMENT)) < 0 ||
                    (g = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0)) < 0 ||
                    (strcmp(role, "cli") != 0 &&
                     (g = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0))
                        r = gnutls_fail("building the certificate", g);
                if (r == 0 && gnutls_x509_crt_get_subject_key_id(ca, akid, &akid_len, NULL) >= 0 &&
                    (g = gnutls_x509_crt_set_authority_key_id(crt, akid, akid_len)) < 0)
                        r = gnutls_fail("authority key ID", g);
        }
        if (r == 0)
                r = add_dns(crt, name);
        if (r == 0)
                r = add_dns(crt, "localhost");
        for (size_t i = 0; i < n_dns && r == 0; i++)
                r = add_dns(crt, dns[i]);
        if (r == 0 && strcmp(role, "cli") != 0)
                r = add_ip(crt, "127.0.0.1");
        for (size_t i = 0; i < n_ips && r == 0; i++)
                r = add_ip(crt, ips[i]);
        if (r == 0)
                r = sign(crt, ca, ca_key);
        if (r == 0)
                r = write_pair(crt, key, crt_path, out_key);
        if (crt)
                gnutls_x509_crt_deinit(crt);
        if (ca)
                gnutls_x509_crt_deinit(ca);
        if (key)
                gnutls_x509_privkey_deinit(key);
        if (ca_key)
                gnutls_x509_privkey_deinit(ca_key);
        return r < 0 ? 1 : 0;
}

const struct cli_command cli_tls_ca_commands[] = {
    {"create", "Create a certificate authority for the cluster", ca_create_help, ca_create},
    {NULL, NULL, NULL, NULL},
};

const struct cli_command cli_tls_cert_commands[] = {
    {"create", "Create a server, client or CLI certificate signed by the CA", cert_create_help, cert_create},
    {NULL, NULL, NULL, NULL},
};
