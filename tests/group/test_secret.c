/*
 * test_secret.c: group_secret_read(), the one reader of secret files.
 * Refusals name the path and say what to do; nothing is ever truncated; a
 * FIFO is refused at once (no writer is waited for).
 */
#include "group/group.h"
#include "harness/harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void write_secret(const char *name, const void *bytes, size_t len, mode_t mode, char *path,
                         size_t cap)
{
    th_path(path, cap, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void expect_refused(const char *path, const char *fragment)
{
    unsigned char *s = (unsigned char *)"x";
    size_t n = 7;
    char err[600] = "";
    assert_int_equal(group_secret_read(path, &s, &n, err, sizeof err), -1);
    assert_null(s);
    assert_int_equal(n, 0);
    if (!strstr(err, path) || !strstr(err, fragment))
        fail_msg("error \"%s\" lacks the path or \"%s\"", err, fragment);
}

static void test_reads_and_strips(void **state)
{
    (void)state;
    char path[512], err[300];
    /* the same stripping for every caller: \n \r space \t at the end only */
    write_secret("k1", " key with\tinner space \r\n\t \n", 27, 0600, path, sizeof path);
    unsigned char *s = NULL;
    size_t n = 0;
    assert_int_equal(group_secret_read(path, &s, &n, err, sizeof err), 0);
    assert_int_equal(n, strlen(" key with\tinner space"));
    assert_memory_equal(s, " key with\tinner space", n);
    assert_int_equal(s[n], 0);
    group_secret_free(s, n);
    /* 0400 is stricter than 0600: fine */
    write_secret("k2", "ops:pw\n", 7, 0400, path, sizeof path);
    assert_int_equal(group_secret_read(path, &s, &n, err, sizeof err), 0);
    assert_string_equal((char *)s, "ops:pw");
    group_secret_free(s, n);
}

/* A key longer than the old agent buffer (511) and the old CLI one (4095)
 * is read whole, binary bytes included. */
static void test_long_binary_key_whole(void **state)
{
    (void)state;
    static unsigned char key[GROUP_SECRET_MAX];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (unsigned char)('A' + i % 50);
    key[100] = 0; /* a NUL inside: length is not strlen */
    char path[512], err[300];
    size_t sizes[] = {600, 4000, 5000, GROUP_SECRET_MAX};
    for (size_t i = 0; i < 4; i++) {
        write_secret("long", key, sizes[i], 0600, path, sizeof path);
        unsigned char *s = NULL;
        size_t n = 0;
        assert_int_equal(group_secret_read(path, &s, &n, err, sizeof err), 0);
        assert_int_equal(n, sizes[i]);
        assert_memory_equal(s, key, n);
        group_secret_free(s, n);
    }
}

static void test_too_big_refused(void **state)
{
    (void)state;
    static unsigned char key[GROUP_SECRET_MAX + 1];
    memset(key, 'k', sizeof key);
    char path[512];
    write_secret("big", key, sizeof key, 0600, path, sizeof path);
    expect_refused(path, "too large for a secret");
}

static void test_mode_refused(void **state)
{
    (void)state;
    char path[512];
    write_secret("loose", "k\n", 2, 0644, path, sizeof path);
    expect_refused(path, "chmod 600");
    write_secret("group", "k\n", 2, 0640, path, sizeof path);
    expect_refused(path, "0640");
}

static void test_symlink_refused(void **state)
{
    (void)state;
    char target[512], link[512];
    write_secret("real", "k\n", 2, 0600, target, sizeof target);
    th_path(link, sizeof link, "link");
    unlink(link);
    assert_int_equal(symlink(target, link), 0);
    expect_refused(link, "symbolic link");
}

static void test_fifo_and_dir_refused(void **state)
{
    (void)state;
    char fifo[512], dir[512];
    th_path(fifo, sizeof fifo, "fifo");
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    expect_refused(fifo, "not a regular file"); /* returns: no writer waited for */
    th_path(dir, sizeof dir, "adir");
    mkdir(dir, 0700);
    expect_refused(dir, "not a regular file");
}

static void test_empty_and_missing(void **state)
{
    (void)state;
    char path[512];
    write_secret("empty", "", 0, 0600, path, sizeof path);
    expect_refused(path, "empty");
    write_secret("blank", " \n\r\t\n", 5, 0600, path, sizeof path);
    expect_refused(path, "empty");
    th_path(path, sizeof path, "missing");
    expect_refused(path, "No such file");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_and_strips),  cmocka_unit_test(test_long_binary_key_whole),
        cmocka_unit_test(test_too_big_refused),   cmocka_unit_test(test_mode_refused),
        cmocka_unit_test(test_symlink_refused),   cmocka_unit_test(test_fifo_and_dir_refused),
        cmocka_unit_test(test_empty_and_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
