/*
 * number.c: a sample value or timestamp as the exposition formats write it,
 * read exactly (the value strtod gives, which Prometheus's Go ParseFloat
 * agrees with) and fast for the common plain decimals.
 */
#include "expo/number_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

static const double pow10_tab[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* [-+]digits[.digits] with at most 15 digits: M / 10^k, both exact doubles,
 * and IEEE division rounds correctly, so this is strtod's value without its
 * cost (most exporter values); false for anything else. */
static bool fast_decimal(const char *s, size_t n, double *v)
{
    size_t i = 0, digits = 0, frac = 0;
    bool neg = s[0] == '-', dot = false;
    if (s[0] == '-' || s[0] == '+') i++;
    unsigned long long m = 0;
    for (; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            if (++digits > 15) return false;
            m = m * 10 + (unsigned)(s[i] - '0');
            frac += dot;
        } else if (s[i] == '.' && !dot) {
            dot = true;
        } else {
            return false;
        }
    }
    if (digits == 0) return false;
    double d = (double)m / pow10_tab[frac];
    *v = neg ? -d : d;
    return true;
}

bool expo_number_parse(const char *s, size_t n, size_t cap, double *v)
{
    if (n == 0 || n >= cap) return false;
    if (fast_decimal(s, n, v)) return true;
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    /* Go's ParseFloat reads NaN and infinities with a sign or not, as strtod
     * does; an overflow (1e999) is refused as Go does, an underflow is not. */
    return *end == 0 && !(errno == ERANGE && isinf(*v));
}
