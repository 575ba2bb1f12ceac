/* tls.c - PEM loading and certificate checks with GnuTLS. */
#include "common/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/macros.h"

int tls_read_file(const char *path, char **ret, struct error *err) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errorf(err, -errno, "cannot open \"%s\": %s", path, strerror(errno));
        struct stat st;
        if (fstat(fd, &st) < 0)
                return errorf(err, -errno, "cannot stat \"%s\": %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return errorf(err, -EINVAL, "\"%s\" is not a regular file", path);
        if ((size_t)st.st_size > TLS_PEM_MAX)
                return errorf(err, -EFBIG, "\"%s\" is larger than %u bytes (not a PEM file?)", path, TLS_PEM_MAX);
        _cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                return errorf(err, -ENOMEM, "out of memory");
        size_t len = 0;
        while (len < (size_t)st.st_size) {
                ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return errorf(err, -errno, "cannot read \"%s\": %s", path, strerror(errno));
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        return 0;
}

void tls_pems_free(struct tls_pems *p) {
        if (!p)
                return;
        free(p->ca);
        free(p->cert);
        free(p->key);
        memset(p, 0, sizeof(*p));
}

static bool set(const char *s) {
        return s && *s;
}

int tls_config_load(const struct tls_config *cfg, struct tls_pems *ret, struct error *err) {
        if (!cfg->http)
                return errorf(err, -EINVAL, "tls: http is off");
        if (!set(cfg->cert_file) || !set(cfg->key_file))
                return errorf(err, -EINVAL,
                              "tls: http = true needs cert_file and key_file (-tls-cert-file, -tls-key-file)");
        if (cfg->verify_client && !set(cfg->ca_file))
                return errorf(err, -EINVAL,
                              "tls: verify_https_client needs ca_file (-tls-ca-file) to verify clients against");
        struct tls_pems p = {0};
        int r = tls_read_file(cfg->cert_file, &p.cert, err);
        if (r == 0)
                r = tls_read_file(cfg->key_file, &p.key, err);
        if (r == 0 && set(cfg->ca_file))
                r = tls_read_file(cfg->ca_file, &p.ca, err);
        if (r < 0) {
                tls_pems_free(&p);
                return error_prefix(err, "tls");
        }
        gnutls_certificate_credentials_t cred = NULL;
        if (gnutls_certificate_allocate_credentials(&cred) < 0) {
                tls_pems_free(&p);
                return errorf(err, -ENOMEM, "tls: out of memory");
        }
        gnutls_datum_t cd = {(unsigned char *)p.cert, (unsigned)strlen(p.cert)};
        gnutls_datum_t kd = {(unsigned char *)p.key, (unsigned)strlen(p.key)};
        int g = gnutls_certificate_set_x509_key_mem(cred, &cd, &kd, GNUTLS_X509_FMT_PEM);
        if (g < 0)
                r = errorf(err, -EINVAL, "tls: certificate \"%s\" with key \"%s\": %s", cfg->cert_file, cfg->key_file,
                           gnutls_strerror(g));
        if (r == 0 && p.ca) {
                gnutls_datum_t ad = {(unsigned char *)p.ca, (unsigned)strlen(p.ca)};
                g = gnutls_certificate_set_x509_trust_mem(cred, &ad, GNUTLS_X509_FMT_PEM);
                if (g <= 0)
                        r = errorf(err, -EINVAL, "tls: CA file \"%s\": %s", cfg->ca_file,
                                   g < 0 ? gnutls_strerror(g) : "no certificate in it");
        }
        gnutls_certificate_free_credentials(cred);
        if (r < 0) {
                tls_pems_free(&p);
                return r;
        }
        *ret = p;
        return 0;
}

int tls_peer_verify(void *session, struct error *err) {
        gnutls_session_t s = session;
        if (!s)
                return errorf(err, -EPROTO, "not a TLS connection");
        unsigned n = 0;
        if (!gnutls_certificate_get_peers(s, &n) || n == 0)
                return errorf(err, -EACCES, "no client certificate presented");
        unsigned status = 0;
        int g = gnutls_certificate_verify_peers2(s, &status);
        if (g < 0)
                return errorf(err, -EACCES, "client certificate not verified: %s", gnutls_strerror(g));
        if (status != 0) {
                gnutls_datum_t out = {0};
                char why[160] = "invalid";
                if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) == 0) {
                        snprintf(why, sizeof(why), "%s", (const char *)out.data);
                        gnutls_free(out.data);
                }
                return errorf(err, -EACCES, "client certificate rejected: %s", why);
        }
        return 0;
}

static int env_fill(char *dst, size_t cap, const char *a, const char *b, struct error *err) {
        if (*dst)
                return 0;
        const char *v = getenv(a);
        const char *name = a;
        if (!v || !*v) {
                v = getenv(b);
                name = b;
        }
        if (!v || !*v)
                return 0;
        if (strlen(v) >= cap)
                return errorf(err, -ENAMETOOLONG, "$%s: path longer than %zu bytes", name, cap - 1);
        memcpy(dst, v, strlen(v) + 1);
        return 0;
}

int tls_client_from_env(struct tls_client *c, struct error *err) {
        int r = env_fill(c->ca_cert, sizeof(c->ca_cert), "DROVER_CACERT", "NOMAD_CACERT", err);
        if (r == 0)
                r = env_fill(c->client_cert, sizeof(c->client_cert), "DROVER_CLIENT_CERT", "NOMAD_CLIENT_CERT", err);
        if (r == 0)
                r = env_fill(c->client_key, sizeof(c->client_key), "DROVER_CLIENT_KEY", "NOMAD_CLIENT_KEY", err);
        return r;
}

int tls_client_check(const struct tls_client *c, struct error *err) {
        if (!!*c->client_cert != !!*c->client_key)
                return errorf(err, -EINVAL,
                              "a client certificate needs its key and the reverse (-client-cert with -client-key)");
        const char *files[] = {c->ca_cert, c->client_cert, c->client_key};
        for (size_t i = 0; i < ARRAY_SIZE(files); i++)
                if (*files[i] && access(files[i], R_OK) < 0)
                        return errorf(err, -errno, "cannot read \"%s\": %s", files[i], strerror(errno));
        return 0;
}
