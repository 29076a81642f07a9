// libFuzzer target for the whole public API (tests/fuzz/run builds and runs it).
//
// Every input is decoded into one call of one public function, with arbitrary shapes, forms,
// temperatures, layouts, masks, options, requested outputs and values. The call is made twice:
// once "canonical" (row-major contiguous copies, Validation::full) and once as decoded (the
// layouts, the bare-matrix spelling and the validation level the bytes chose). Checks:
//   - exceptions: only std::invalid_argument, with a message naming the function, an argument and
//     a problem that docs/errors.md lists for that argument; an entry named by the message is
//     really bad (and in a kept row); outputs are untouched when a call throws;
//   - valid input (the canonical call did not throw) never gives NaN in the value, the row values
//     or the gradients, every requested output entry is written and nothing around it;
//   - masked rows have value 0 and zero gradient rows; divergences are >= 0 (f-divergences >= f(1);
//     kl of a top-k teacher without its tail bucket has no bound);
//     the returned value is the reduction of the row values;
//   - the decoded call gives the canonical call's results bit for bit (layouts and
//     Validation::none only change how entries are read), or, with Validation::none on an
//     invalid input, throws only what does not depend on entries.
// A failed check prints what failed and aborts (libFuzzer then saves the input).
//
// Decoder. Bytes are read with FuzzedDataProvider, every choice by ConsumeIntegralInRange
// (which reads from the END of the input, one byte for ranges below 256); exhausted input
// reads as 0. In order (tests/fuzz/make_corpus.py writes inputs in this layout):
//   api (byte % 15: kl, reverse_kl, js, generalized_js, js_distance, f_divergence,
//        cauchy_schwarz, renyi, entropy, cross_entropy, mutual_information,
//        density_ratio_weights, generator members, named f-divergence, top-k kl),
//   scalar (byte % 2: float, double),
//   generator (byte % 19, the README's order; for a named f-divergence, generator % 6 picks
//        squared_hellinger, total_variation, pearson_chi_squared, neyman_chi_squared, jeffreys,
//        triangular), dual (byte % 2), parameter (see param()),
//   B (byte % 65), V (byte % 65), q's shape (byte % 16: 1 = one more row, 2 = one more column),
//   top-k kl only: k (byte % (V + 2)); p is then the teacher's values (B x k), q the student,
//   then for p and (binary functions) q: form (byte % 4: probs, log_probs, logits, bare matrix),
//        temperature (param()), layout (byte % 7), fill (byte % 5), scale (byte), special rate
//        (byte), then one uint16 per entry in row order (two bytes; see fill()),
//   top-k kl only: the indices (see decode_indices()), then the tail bucket (byte % 2: 0 with it),
//   mask (byte % 8), its bits (one byte per 8 rows), reduction (byte % 4), validation (byte: bit 0
//   Validation::none, bit 1 the f_rows function instead of f; top-k kl has no _rows function),
//   tolerance (param()), row_values (byte % 6), grad_p (byte % 8), grad_q (byte % 8);
//   generator members: a count (byte % 8) of points, each param().
// param(): a byte; below the palette's size it picks a palette value, else 8 more bytes are the
// bits of an arbitrary double.
//
// Api numbers 15 to 32 pick one of the decoders of the other public functions (tests/fuzz/decoders.hpp,
// decoders_*.hpp, checks in fuzz_common.hpp): distillation_loss, alpha_beta_divergence,
// token_wise_kl, kl_penalty, the token losses, ModelComparison, every top-k divergence, ot::sinkhorn
// (+ plan, gradients, linear_cost_gradient), sinkhorn_divergence, wasserstein_1d, sliced_wasserstein,
// unrolled_sinkhorn / sinkhorn_distillation_loss, the kernel estimators, the Gaussian closed forms and
// mixtures, kl_diagonal, the family KLs, bregman_kl / match_moments, the projections. Each reads the
// scalar byte too, then its own choices (documented above each decoder).
// The api byte b is read as b % 33, or with FUZZ_APIS=discrete as b % 15 and with FUZZ_APIS=decoders as
// 15 + (b - 15) % 18 (15 + b below 15): tests/fuzz/run gives each group its own number of inputs, since
// the decoders run about 7x slower than the discrete functions (-O0: about 70 against 500 inputs/s).
// This file holds the discrete functions and the entry point; the decoders are compiled in units of
// their own (decoders_{distillation,tokens,ot,kernel,parametric}.cpp; the shared helpers are in
// fuzz_harness.hpp), so that the target builds on two cores in parallel.

#include "fuzz_harness.hpp"

namespace {

// ---------------------------------------------------------------- inputs

enum class Api {
    kl, reverse_kl, js, generalized_js, js_distance, f_divergence, cauchy_schwarz, renyi, entropy,
    cross_entropy, mutual_information, density_ratio_weights, generator_members, named_f_divergence, top_k_kl,
    count
};
const char* const kApiNames[] = {"kl", "reverse_kl", "js", "generalized_js", "js_distance", "f_divergence",
                                 "cauchy_schwarz", "renyi", "entropy", "cross_entropy", "mutual_information",
                                 "density_ratio_weights", "generator members", "named f-divergence", "kl"};
/// The named f-divergences (discrete/named_f_divergences.hpp), picked by generator % 6.
const char* const kNamedNames[] = {"squared_hellinger", "total_variation", "pearson_chi_squared",
                                   "neyman_chi_squared", "jeffreys", "triangular"};

bool is_binary(Api api)
{
    return api != Api::entropy && api != Api::mutual_information && api != Api::density_ratio_weights &&
           api != Api::generator_members;
}

/// Reads a matrix of logical values (double, before the cast to the scalar type).
/// fill: 0 smooth values scale * u, u in [-1, 1); 1 the same with specials mixed in at the given
/// rate; 2 every entry raw (special or scale * u, never normalized); 3 a copy of `other` (p = q),
/// one entry nudged when the entry's byte is odd; 4 one-hot rows (the hot column from the entry bytes).
std::vector<double> fill(FuzzedDataProvider& in, Index rows, Index cols, int mode, double scale, int rate,
                         const std::vector<double>* other)
{
    std::vector<double> z(std::size_t(rows * cols));
    for (std::size_t i = 0; i < z.size(); ++i) {
        const unsigned u = in.ConsumeIntegral<uint16_t>();
        const double smooth = scale * ((double(u) - 32768.0) / 32768.0);
        const bool special = (mode == 1 || mode == 2) && int(u & 0xff) < rate;
        switch (mode) {
        case 3:
            z[i] = other && i < other->size() ? (*other)[i] : smooth;
            if (u & 1) z[i] = std::nextafter(z[i], inf);
            break;
        case 4: {  // the row's first entry picks the hot column
            const std::size_t column = i % std::size_t(cols), first = i - column;
            if (column == 0) z[i] = double(u % unsigned(cols));  // temporarily the hot column
            const std::size_t hot = std::size_t(z[first]);
            if (column + 1 == std::size_t(cols))
                for (std::size_t k = 0; k < std::size_t(cols); ++k) z[first + k] = k == hot ? 0.0 : -inf;
            break;
        }
        default: z[i] = special ? kPalette[(u >> 8) % kPaletteSize] : smooth;
        }
    }
    return z;
}

/// softmax (probs) or log-softmax (log_probs) of each row of z, in long double.
std::vector<double> normalize(const std::vector<double>& z, Index rows, Index cols, Form form)
{
    std::vector<double> out(z.size());
    for (Index r = 0; r < rows; ++r) {
        const double* row = z.data() + r * cols;
        long double top = -INFINITY;
        for (Index c = 0; c < cols; ++c) top = std::max<long double>(top, row[c]);
        long double sum = 0;
        for (Index c = 0; c < cols; ++c) sum += std::exp((long double)row[c] - top);
        const long double log_sum = top + std::log(sum);
        for (Index c = 0; c < cols; ++c) {
            const long double l = (long double)row[c] - log_sum;
            out[std::size_t(r * cols + c)] = double(form == Form::probs ? std::exp(l) : l);
        }
    }
    return out;
}

/// An input as stored: one layout of a logical (rows x cols) matrix, padding filled with NaN.
template <class S>
struct Stored {
    Index rows = 0, cols = 0;
    Form form = Form::probs;
    bool bare = false;  // passed as a bare Eigen matrix (probs by default)
    double temperature = 1.0;
    int layout = 0;     // 0 RowMatrix, 1 column-major, 2/3 strided row/column-major, 4 expression, 5/6 vectors
    RowMatrix<S> logical;  // the values, also the canonical copy
    Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic> column_major;
    std::vector<S> buffer;
    Eigen::Matrix<S, 1, Eigen::Dynamic> row_vector;
    Eigen::Matrix<S, Eigen::Dynamic, 1> column_vector;

    S at(Index r, Index c) const { return logical(r, c); }

    template <class X>
    Input<S> wrap(const X& x) const
    {
        switch (form) {
        case Form::probs: return probs(x);
        case Form::log_probs: return log_probs(x);
        default: return logits(x, temperature);
        }
    }
    Input<S> canonical() const { return wrap(logical); }
    Input<S> decoded() const
    {
        using RowMap = Eigen::Map<const RowMatrix<S>, Eigen::Unaligned, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;
        using ColMap = Eigen::Map<const Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>, Eigen::Unaligned,
                                  Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;
        switch (layout) {
        case 1: return wrap(column_major);
        case 2: return wrap(RowMap(buffer.data(), rows, cols, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(2 * cols + 3, 2)));
        case 3: return wrap(ColMap(buffer.data(), rows, cols, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(rows + 5, 1)));
        case 4: return wrap(logical.array() * S(1));
        case 5: return wrap(row_vector);
        case 6: return wrap(column_vector);
        default: return wrap(logical);
        }
    }
};

template <class S>
void store(Stored<S>& x, const std::vector<double>& values)
{
    x.logical.resize(x.rows, x.cols);
    for (Index r = 0; r < x.rows; ++r)
        for (Index c = 0; c < x.cols; ++c) x.logical(r, c) = S(values[std::size_t(r * x.cols + c)]);
    if ((x.layout == 5 || x.layout == 6) && x.rows != 1) x.layout = 0;
    const S pad = S(nan_value);
    switch (x.layout) {
    case 1: x.column_major = x.logical; break;
    case 2:
        x.buffer.assign(std::size_t(x.rows * (2 * x.cols + 3) + 1), pad);
        for (Index r = 0; r < x.rows; ++r)
            for (Index c = 0; c < x.cols; ++c) x.buffer[std::size_t(r * (2 * x.cols + 3) + 2 * c)] = x.logical(r, c);
        break;
    case 3:
        x.buffer.assign(std::size_t((x.rows + 5) * x.cols + 1), pad);
        for (Index r = 0; r < x.rows; ++r)
            for (Index c = 0; c < x.cols; ++c) x.buffer[std::size_t(c * (x.rows + 5) + r)] = x.logical(r, c);
        break;
    case 5: x.row_vector = x.logical.row(0); break;
    case 6: x.column_vector = x.logical.row(0).transpose(); break;
    default: break;
    }
}

/// Decodes one input: its form, temperature, layout and values. `other` is p's logical values (for q).
template <class S>
void decode_input(FuzzedDataProvider& in, Stored<S>& x, Index rows, Index cols, const std::vector<double>* other,
                  std::vector<double>* logical_out, bool whole_table)
{
    x.rows = rows;
    x.cols = cols;
    const int form = byte(in, 4);
    x.bare = form == 3;
    x.form = form == 3 ? Form::probs : Form(form);
    x.temperature = param(in);
    x.layout = byte(in, 7);
    const int mode = byte(in, 5);
    const double scale = kScales[byte(in, int(sizeof kScales / sizeof kScales[0]))];
    const int rate = byte(in, 256);
    std::vector<double> z = fill(in, rows, cols, mode, scale, rate, other);
    if (logical_out) *logical_out = z;
    // Raw entries (mode 2) and logits are stored as they are; the others become distributions.
    if (mode != 2 && x.form != Form::logits && cols > 0) z = normalize(z, rows, cols, x.form);
    if (whole_table && mode != 2 && x.form == Form::probs)
        for (double& e : z) e /= double(rows);  // mutual_information: the whole table sums to 1
    store(x, z);
}

/// A top-k teacher's indices (B x k), row-major (the canonical call) and column-major (the decoded
/// call when `column` is set).
struct TopKIndices {
    Eigen::Matrix<int, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> row_major;
    Eigen::Matrix<int, Eigen::Dynamic, Eigen::Dynamic> column_major;
    bool column = false;

    int at(Index r, Index i) const { return row_major(r, i); }
};

/// Decodes the indices of a top-k teacher: a mode (byte % 4), the layout (byte % 2), then one byte
/// per entry in row order. Modes 0-2: distinct columns of [0, V), each row a partial Fisher-Yates
/// shuffle of 0..V-1 (entry i swaps position i with i + byte % (V - i)); mode 3 (and entries past
/// V): the byte - 8, so out of range and repeated indices too.
void decode_indices(FuzzedDataProvider& in, TopKIndices& x, Index rows, Index k, Index cols)
{
    const int mode = byte(in, 4);
    x.column = byte(in, 2) == 1;
    x.row_major.resize(rows, k);
    std::vector<int> columns;
    for (Index r = 0; r < rows; ++r) {
        columns.resize(std::size_t(cols));
        for (Index c = 0; c < cols; ++c) columns[std::size_t(c)] = int(c);
        for (Index i = 0; i < k; ++i) {
            const int b = byte(in, 256);
            if (mode == 3 || i >= cols) {
                x.row_major(r, i) = b - 8;
            } else {
                std::swap(columns[std::size_t(i)], columns[std::size_t(i + b % (cols - i))]);
                x.row_major(r, i) = columns[std::size_t(i)];
            }
        }
    }
    x.column_major = x.row_major;
}

// ---------------------------------------------------------------- outputs

/// A caller-owned output matrix in one of several layouts, entries NaN before the call, padding
/// a sentinel that must survive it.
template <class S>
struct OutMatrix {
    static constexpr double kPad = 777.0;
    bool requested = false;
    Index rows = 0, cols = 0, row_stride = 0, col_stride = 0;
    bool row_major = true;
    std::vector<S> buffer;

    void make(int kind, Index r, Index c)
    {
        requested = kind >= 3;
        if (!requested) return;
        rows = r;
        cols = c;
        if (kind == 7) cols = c + 1;  // wrong shape
        row_major = kind == 3 || kind == 5 || kind == 7;
        const bool strided = kind == 5 || kind == 6;
        if (row_major) {
            col_stride = strided ? 2 : 1;
            row_stride = strided ? 2 * cols + 1 : cols;
        } else {
            row_stride = strided ? 2 : 1;
            col_stride = strided ? 2 * rows + 1 : rows;
        }
        buffer.assign(std::size_t(std::max<Index>(1, rows * row_stride + cols * col_stride + 2)), S(kPad));
        for (Index i = 0; i < rows; ++i)
            for (Index j = 0; j < cols; ++j) at(i, j) = S(nan_value);
    }
    S& at(Index i, Index j) { return buffer[std::size_t(i * row_stride + j * col_stride)]; }
    S at(Index i, Index j) const { return buffer[std::size_t(i * row_stride + j * col_stride)]; }
    bool inside(std::size_t k) const
    {
        for (Index i = 0; i < rows; ++i)
            for (Index j = 0; j < cols; ++j)
                if (std::size_t(i * row_stride + j * col_stride) == k) return true;
        return false;
    }
    MatrixOut<S> out()
    {
        if (!requested) return {};
        using Dyn = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;
        if (row_major) return Eigen::Map<RowMatrix<S>, Eigen::Unaligned, Dyn>(buffer.data(), rows, cols, Dyn(row_stride, col_stride));
        return Eigen::Map<Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>, Eigen::Unaligned, Dyn>(
            buffer.data(), rows, cols, Dyn(col_stride, row_stride));
    }
    /// Padding unchanged; returns false if something outside the view was written.
    bool padding_intact() const
    {
        for (std::size_t k = 0; k < buffer.size(); ++k)
            if (!inside(k) && !(buffer[k] == S(kPad))) return false;
        return true;
    }
    bool untouched() const
    {
        for (std::size_t k = 0; k < buffer.size(); ++k)
            if (inside(k) ? !std::isnan(buffer[k]) : !(buffer[k] == S(kPad))) return false;
        return true;
    }
};

template <class S>
struct OutVector {
    bool requested = false;
    Index size = 0, stride = 1;
    std::vector<S> buffer;
    void make(int kind, Index rows)
    {
        requested = kind >= 2;
        if (!requested) return;
        size = kind == 5 ? rows + 1 : rows;
        stride = kind == 4 ? 3 : 1;
        buffer.assign(std::size_t(size * stride + 1), S(OutMatrix<S>::kPad));
        for (Index i = 0; i < size; ++i) buffer[std::size_t(i * stride)] = S(nan_value);
    }
    S at(Index i) const { return buffer[std::size_t(i * stride)]; }
    VectorOut<S> out()
    {
        if (!requested) return {};
        return Eigen::Map<Eigen::Matrix<S, Eigen::Dynamic, 1>, Eigen::Unaligned, Eigen::InnerStride<>>(
            buffer.data(), size, Eigen::InnerStride<>(stride));
    }
    bool padding_intact() const
    {
        for (std::size_t k = 0; k < buffer.size(); ++k)
            if ((k % std::size_t(stride) != 0 || Index(k / std::size_t(stride)) >= size) && !(buffer[k] == S(OutMatrix<S>::kPad)))
                return false;
        return true;
    }
    bool untouched() const
    {
        for (std::size_t k = 0; k < buffer.size(); ++k) {
            const bool inside = k % std::size_t(stride) == 0 && Index(k / std::size_t(stride)) < size;
            if (inside ? !std::isnan(buffer[k]) : !(buffer[k] == S(OutMatrix<S>::kPad))) return false;
        }
        return true;
    }
};

// ---------------------------------------------------------------- exceptions


/// What an exception is about: entry errors depend on the values, the others do not.
enum class ErrorKind { none, entry, other };

/// Everything needed to judge one exception.
template <class S>
struct Context {
    Api api;
    const char* function;
    const Stored<S>* p;
    const Stored<S>* q;  // null for unary functions
    const bool* mask;    // logical mask (null: none)
    Index mask_size;
    bool reduction_none = false;
    bool rows_variant = false;  // the f_rows function was called
    const TopKIndices* indices = nullptr;  // top-k kl: the teacher's indices (p is its values, q the student)
};

/// Checks the message against docs/errors.md; returns whether it is about entries. Aborts otherwise.
template <class S>
ErrorKind judge(const std::string& text, const Context<S>& ctx)
{
    Message m;
    if (!parse(text, m)) failure("exception message not in the documented format: " + text);
    const std::string& pr = m.problem;
    const std::string& arg = m.argument;
    // Generator parameters: "divergence::generators::<Name>: argument '<parameter>': must be ...".
    if (starts(m.function, "generators::")) {
        const std::string name = m.function.substr(12);
        const bool ok = (name == "GeneralizedJs" && arg == "beta") || (name == "SkewKl" && arg == "alpha") ||
                        (name == "SkewReverseKl" && arg == "alpha") || (name == "AmariAlpha" && arg == "alpha") ||
                        (name == "TPower" && arg == "t");
        if (!ok || !starts(pr, "must be")) failure("undocumented generator exception: " + text);
        return ErrorKind::other;
    }
    if (m.function != ctx.function) failure(std::string("exception names another function than ") + ctx.function + ": " + text);
    const auto entry_of = [&](const Stored<S>* x) -> double {
        if (!x || m.row < 0 || m.column < 0 || m.row >= x->rows || m.column >= x->cols)
            failure("exception names an entry outside the input: " + text);
        return double(x->at(m.row, m.column));
    };
    const auto kept_row = [&](const Stored<S>* x) {
        if (!x || m.row < 0 || m.row >= x->rows) failure("exception names a row outside the input: " + text);
        if (ctx.mask && m.row < ctx.mask_size && !ctx.mask[m.row]) failure("exception names a masked row: " + text);
    };
    if (ctx.api == Api::mutual_information) {
        if (arg == "joint") {
            if (starts(pr, "non-finite probability")) {
                if (std::isfinite(entry_of(ctx.p))) failure("'non-finite' entry is finite: " + text);
                return ErrorKind::entry;
            }
            if (starts(pr, "negative probability")) {
                if (!(entry_of(ctx.p) < 0)) failure("'negative' entry is not negative: " + text);
                return ErrorKind::entry;
            }
            if (starts(pr, "entries sum to")) return ErrorKind::entry;
            if (starts(pr, "empty table") || starts(pr, "must be a table of probabilities")) return ErrorKind::other;
        }
        if (arg == "mask" || arg == "row_values" || (arg == "grad_q" && has(pr, "single argument")) ||
            (arg == "grad_p" && has(pr, "differs from the input's")))
            return ErrorKind::other;
        if (arg == "options.tolerance" && starts(pr, "must be finite")) return ErrorKind::other;
        failure("undocumented mutual_information exception: " + text);
    }
    if (ctx.api == Api::density_ratio_weights) {
        if (arg == "log_ratio" && pr == "NaN log ratio") {
            if (!std::isnan(entry_of(ctx.p))) failure("'NaN log ratio' entry is not NaN: " + text);
            return ErrorKind::entry;
        }
        if (arg == "weights" && has(pr, "differs from log_ratio's")) return ErrorKind::other;
        failure("undocumented density_ratio_weights exception: " + text);
    }
    if (ctx.api == Api::top_k_kl && arg == "p") {  // the teacher (values ctx.p, indices ctx.indices)
        const Stored<S>* v = ctx.p;
        if (starts(pr, "top-k values must be probabilities or log-probabilities")) {
            if (v->form != Form::logits) failure("'top-k values' error for values that are not logits: " + text);
            return ErrorKind::other;
        }
        if (starts(pr, "k = ") && has(pr, " must be in [1, V = ")) {
            if (v->cols >= 1 && v->cols <= ctx.q->cols) failure("'k' error for k in [1, V]: " + text);
            return ErrorKind::other;
        }
        if (starts(pr, "index out of [0, V), got")) {
            kept_row(v);
            if (m.column < 0 || m.column >= v->cols) failure("exception names an index outside the teacher: " + text);
            const int c = ctx.indices->at(m.row, m.column);
            if (c >= 0 && c < ctx.q->cols) failure("the index named is in range: " + text);
            return ErrorKind::entry;
        }
        if (starts(pr, "probability must be in [0, 1], got")) {
            if (v->form != Form::probs) failure("entry error for another form: " + text);
            kept_row(v);
            const double e = entry_of(v);
            if (e >= 0.0 && e <= 1.0) failure("the probability named is in [0, 1]: " + text);
            return ErrorKind::entry;
        }
        if (starts(pr, "log-probability must be in [-inf, 0], got")) {
            if (v->form != Form::log_probs) failure("entry error for another form: " + text);
            kept_row(v);
            if (entry_of(v) <= 0.0) failure("the log-probability named is in [-inf, 0]: " + text);
            return ErrorKind::entry;
        }
        if (m.column < 0 && starts(pr, "an index appears twice")) {
            kept_row(v);
            bool twice = false;
            for (Index i = 0; i < v->cols; ++i)
                for (Index j = 0; j < i; ++j) twice = twice || ctx.indices->at(m.row, i) == ctx.indices->at(m.row, j);
            if (!twice) failure("'an index appears twice' but none does: " + text);
            return ErrorKind::entry;
        }
        if (m.column < 0 && starts(pr, "the top-k masses sum to")) return kept_row(v), ErrorKind::entry;
        failure("undocumented problem for a top-k teacher: " + text);
    }
    if (ctx.api == Api::top_k_kl && arg == "q" && starts(pr, "the student must be given as logits")) {
        if (ctx.q->form == Form::logits && !ctx.q->bare) failure("logits rejected as not logits: " + text);
        return ErrorKind::other;
    }
    if (ctx.api == Api::top_k_kl && arg == "q" && starts(pr, "has ") && has(pr, " rows for the teacher's ")) {
        if (ctx.q->rows == ctx.p->rows) failure("'rows' error for equal row counts: " + text);
        return ErrorKind::other;
    }
    if (ctx.api == Api::top_k_kl && arg == "grad_p" && pr == "a top-k teacher has no gradient here (it is data)")
        return ErrorKind::other;
    if (arg == "p" || arg == "q") {
        const Stored<S>* x = arg == "p" ? ctx.p : ctx.q;
        if (!x) failure("exception names q for a unary function: " + text);
        if (starts(pr, "empty input")) {
            if (x->rows != 0 && x->cols != 0) failure("'empty input' for a non-empty input: " + text);
            return ErrorKind::other;
        }
        if (arg == "q" && starts(pr, "shape ") && has(pr, "differs from p's")) {
            if (ctx.p->rows == x->rows && ctx.p->cols == x->cols) failure("'shape differs' for equal shapes: " + text);
            return ErrorKind::other;
        }
        if (starts(pr, "temperature must be finite and > 0")) {
            if (x->form == Form::logits && x->temperature > 0 && std::isfinite(x->temperature))
                failure("good temperature rejected: " + text);
            return ErrorKind::other;
        }
        if (starts(pr, "temperature out of range for")) {  // 1 / T must be a finite, normal S
            const double reciprocal = 1.0 / x->temperature;
            if (x->form == Form::logits && reciprocal <= double(std::numeric_limits<S>::max()) &&
                reciprocal >= double(std::numeric_limits<S>::min()))
                failure("temperature in range rejected: " + text);
            return ErrorKind::other;
        }
        const auto entry = [&](Form form, bool bad) {
            if (x->form != form) failure("entry error for another form: " + text);
            kept_row(x);
            if (!bad) failure("the entry named is not bad: " + text);
            return ErrorKind::entry;
        };
        if (starts(pr, "non-finite probability")) return entry(Form::probs, !std::isfinite(entry_of(x)));
        if (starts(pr, "negative probability")) return entry(Form::probs, entry_of(x) < 0);
        if (starts(pr, "log-probability must be in [-inf, 0]")) {
            const double e = entry_of(x);
            return entry(Form::log_probs, std::isnan(e) || e == inf);
        }
        if (starts(pr, "positive log-probability")) return entry(Form::log_probs, entry_of(x) > 0);
        if (starts(pr, "logit must be finite or -inf")) {
            const double e = entry_of(x);
            return entry(Form::logits, std::isnan(e) || e == inf);
        }
        if (starts(pr, "logit / temperature overflows")) {
            const double e = entry_of(x);
            // |z / T| beyond the input type's largest value, as the library computes it (z times 1 / T).
            return entry(Form::logits, std::isfinite(e) && !(std::abs(e * (1.0 / x->temperature)) <= double(std::numeric_limits<S>::max())));
        }
        if (m.column < 0 && starts(pr, "probabilities sum to")) return kept_row(x), entry(Form::probs, true);
        if (m.column < 0 && starts(pr, "logsumexp of the log-probabilities is")) return kept_row(x), entry(Form::log_probs, true);
        if (m.column < 0 && pr == "every logit is -inf") {
            kept_row(x);
            for (Index c = 0; c < x->cols; ++c)
                if (!(double(x->at(m.row, c)) == -inf)) failure("'every logit is -inf' but one is not: " + text);
            return entry(Form::logits, true);
        }
        failure("undocumented problem for an input: " + text);
    }
    if (arg == "mask" && starts(pr, "has ") && has(pr, " entries for ")) return ErrorKind::other;
    if ((arg == "grad_p" || arg == "grad_q") && starts(pr, "shape ") && has(pr, "differs from the input's")) return ErrorKind::other;
    if (arg == "row_values" && starts(pr, "has ") && has(pr, " entries for ")) return ErrorKind::other;
    if (arg == "grad_q" && pr == "this function has a single argument" && ctx.api == Api::entropy) return ErrorKind::other;
    if (arg == "options.reduction" && starts(pr, "Reduction::none has one value per row") && ctx.reduction_none &&
        !ctx.rows_variant)
        return ErrorKind::other;
    if (arg == "row_values" && starts(pr, "the per-row values are returned") && ctx.rows_variant) return ErrorKind::other;
    if (arg == "beta" && ctx.api == Api::generalized_js && starts(pr, "must be in [0, 1]")) return ErrorKind::other;
    if (arg == "alpha" && ctx.api == Api::renyi && starts(pr, "must be finite and >= 0")) return ErrorKind::other;
    if (arg == "options.tolerance" && starts(pr, "must be finite")) return ErrorKind::other;
    failure("undocumented exception: " + text);
}

// ---------------------------------------------------------------- one call

/// What a call produced (or threw).
template <class S>
struct Result {
    bool threw = false;
    std::string message;
    ErrorKind kind = ErrorKind::none;
    S value = S(0);
    std::vector<double> returned;  // what an f_rows function returned
    OutVector<S> rows;
    OutMatrix<S> grad_p, grad_q;
};

struct Request {
    int row_values = 0, grad_p = 0, grad_q = 0;
};

/// Calls `call(options, outputs)` with fresh outputs of the requested kinds and records the result.
template <class S, class Call>
Result<S> run_call(const Request& request, Index rows, Index p_cols, Index q_rows, Index q_cols, const Context<S>& ctx,
                   const Call& call, bool canonical)
{
    Result<S> result;
    // The canonical call writes into row-major contiguous outputs of the same shapes.
    const auto canonical_kind = [&](int kind) { return canonical && kind >= 3 ? (kind == 7 ? 7 : 3) : kind; };
    result.rows.make(canonical && request.row_values == 4 ? 2 : request.row_values, rows);
    result.grad_p.make(canonical_kind(request.grad_p), rows, p_cols);
    result.grad_q.make(canonical_kind(request.grad_q), q_rows, q_cols);
    Outputs<S> out;
    out.row_values = result.rows.out();
    out.grad_p = result.grad_p.out();
    out.grad_q = result.grad_q.out();
    try {
        result.value = call(out, result.returned);
    } catch (const std::invalid_argument& e) {
        result.threw = true;
        result.message = e.what();
        result.kind = judge(result.message, ctx);
        if (!result.rows.untouched() || !result.grad_p.untouched() || !result.grad_q.untouched())
            failure(std::string("outputs written by a call that threw: ") + e.what());
    } catch (const std::exception& e) {
        failure(std::string("exception other than std::invalid_argument: ") + e.what());
    }
    return result;
}

template <class S>
std::string where(const char* what, Index r, Index c)
{
    return std::string(what) + "(" + std::to_string(r) + ", " + std::to_string(c) + ")";
}

/// Checks the results of a call on valid input.
/// Whether a NaN at (output, row, column) is a listed known defect.
using Excuse = std::function<bool(const char* output, Index row, Index column)>;

template <class S>
void check_valid(const Result<S>& res, Api api, double f_at_one, const bool* mask, Index mask_size, Reduction reduction,
                 Index rows, const std::string& label, const Excuse& excused)
{
    const auto fail = [&](const std::string& what) { failure(label + ": " + what); };
    if (std::isnan(res.value) && !excused("value", -1, -1)) fail("NaN value from valid input");
    const auto kept = [&](Index r) { return !mask || mask_size != rows || mask[r]; };
    // f_at_one: f(1) for f_divergence, 0 or -inf (no bound: no tail bucket) for top-k kl.
    const bool given_floor = api == Api::f_divergence || api == Api::top_k_kl;
    const double floor = given_floor ? f_at_one : 0.0;
    const bool bounded_below = !given_floor || std::isfinite(f_at_one);
    for (std::size_t r = 0; r < res.returned.size(); ++r) {
        const double v = res.returned[r];
        if (std::isnan(v) && !excused("row_values", Index(r), -1)) fail("NaN returned row value (row " + std::to_string(r) + ")");
        if (!kept(Index(r)) && v != 0.0) fail("masked row " + std::to_string(r) + " returned " + show(v));
        if (kept(Index(r)) && bounded_below && v < double(S(floor)) - 1e-12 * std::abs(floor))
            fail("returned row " + std::to_string(r) + " below its lower bound: " + show(v));
    }
    if (res.rows.requested && !res.threw) {
        if (!res.rows.padding_intact()) fail("row_values written outside the vector");
        for (Index r = 0; r < res.rows.size; ++r) {
            const double v = double(res.rows.at(r));
            if (std::isnan(v) && !excused("row_values", r, -1))
                fail("NaN row value (row " + std::to_string(r) + ") from valid input");
            if (!kept(r) && v != 0.0) fail("masked row " + std::to_string(r) + " has value " + show(v));
            if (kept(r) && bounded_below && v < double(S(floor)) - 1e-12 * std::abs(floor))
                fail("row " + std::to_string(r) + " below its lower bound: " + show(v));
        }
        // The returned value is the reduction of the row values (computed in double from Scalar rows).
        double sum = 0.0, magnitude = 0.0;
        Index kept_rows = 0;
        for (Index r = 0; r < rows; ++r)
            if (kept(r)) {
                sum += double(res.rows.at(r));
                magnitude += std::abs(double(res.rows.at(r)));
                ++kept_rows;
            }
        double scale = 1.0;
        if (reduction == Reduction::mean) scale = kept_rows > 0 ? 1.0 / double(kept_rows) : 0.0;
        if (reduction == Reduction::batchmean) scale = 1.0 / double(rows);
        const double expected = sum * scale;
        // Each row value and the result are rounded to S: relative eps, and absolute denorm_min where
        // they are subnormal.
        const double slack = 4.0 * double(std::numeric_limits<S>::epsilon()) * magnitude * scale +
                             double(std::numeric_limits<S>::denorm_min()) * (double(kept_rows) * scale + 1.0) + 1e-300;
        if (std::isfinite(expected) && std::isfinite(double(res.value)) &&
            std::abs(double(res.value) - expected) > slack && std::isfinite(magnitude * scale))
            fail("value " + show(res.value) + " is not the reduction of the row values (" + show(expected) + ")");
    }
    for (const OutMatrix<S>* g : {&res.grad_p, &res.grad_q}) {
        if (!g->requested) continue;
        const char* name = g == &res.grad_p ? "grad_p" : "grad_q";
        if (!g->padding_intact()) fail(std::string(name) + " written outside its view");
        for (Index r = 0; r < g->rows; ++r)
            for (Index c = 0; c < g->cols; ++c) {
                const double v = double(g->at(r, c));
                if (std::isnan(v)) {
                    if (excused(name, r, c)) continue;
                    fail("NaN in " + where<S>(name, r, c) + " from valid input");
                }
                if (!kept(r) && v != 0.0) fail(where<S>(name, r, c) + " of a masked row is " + show(v));
            }
    }
}

/// The two results must agree bit for bit (NaN matches NaN).
template <class S>
void check_same(const Result<S>& a, const Result<S>& b, const std::string& label)
{
    const auto fail = [&](const std::string& what) { failure(label + ": canonical and decoded calls differ: " + what); };
    if (!same(double(a.value), double(b.value))) fail("value " + show(a.value) + " vs " + show(b.value));
    if (a.returned.size() != b.returned.size()) fail("returned row counts");
    for (std::size_t r = 0; r < a.returned.size(); ++r)
        if (!same(a.returned[r], b.returned[r]))
            fail("returned row " + std::to_string(r) + ": " + show(a.returned[r]) + " vs " + show(b.returned[r]));
    if (a.rows.requested)
        for (Index r = 0; r < a.rows.size; ++r)
            if (!same(double(a.rows.at(r)), double(b.rows.at(r))))
                fail("row value " + std::to_string(r) + ": " + show(a.rows.at(r)) + " vs " + show(b.rows.at(r)));
    const OutMatrix<S>* pairs[2][2] = {{&a.grad_p, &b.grad_p}, {&a.grad_q, &b.grad_q}};
    for (auto& pair : pairs) {
        if (!pair[0]->requested) continue;
        for (Index r = 0; r < pair[0]->rows; ++r)
            for (Index c = 0; c < pair[0]->cols; ++c)
                if (!same(double(pair[0]->at(r, c)), double(pair[1]->at(r, c))))
                    fail(where<S>(pair[0] == &a.grad_p ? "grad_p" : "grad_q", r, c) + ": " + show(pair[0]->at(r, c)) +
                         " vs " + show(pair[1]->at(r, c)));
    }
}

// ---------------------------------------------------------------- generators


/// The generator's own members at points u >= 0 (and t in the conjugate's domain): never NaN.
template <class G>
void check_members(const G& g, const std::vector<double>& points, double parameter, bool t_power_overflow)
{
    const std::string name = g.name();
    if (name.empty()) failure("generator with an empty name");
    const auto expect = [&](double v, const char* member, double at) {
        const bool weight = std::strcmp(member, "weight") == 0;
        const bool generalized_js = starts(name, "generalized_js(");  // not its dual
        if (weight && generalized_js && ((parameter == 1.0 && at == 0.0) || (parameter == 0.0 && at >= 1.7e308)) &&
            known_defect(Defect::generalized_js_weight_nan_at_beta_0_or_1))
            return;
        if (weight && starts(name, "skew_kl(") && parameter > 0.0 && parameter < DBL_MIN && at == inf &&
            known_defect(Defect::skew_kl_weight_nan_at_infinity))
            return;
        if (name == "softened_reverse_kl" && std::strcmp(member, "f_prime") == 0 && at > 0.0 && at < DBL_MIN &&
            known_defect(Defect::softened_reverse_kl_f_prime_nan_at_subnormal_u))
            return;
        if (t_power_overflow && known_defect(Defect::t_power_scale_overflow)) return;
        if (std::isnan(v)) failure(name + "." + member + "(" + show(at) + ") is NaN");
    };
    expect(g.f_at_zero(), "f_at_zero", 0);
    expect(g.slope_at_infinity(), "slope_at_infinity", 0);
    expect(g.f_prime_at_zero(), "f_prime_at_zero", 0);
    expect(g.u_f_prime_at_zero(), "u_f_prime_at_zero", 0);
    expect(g.phi_at_zero(), "phi_at_zero", 0);
    expect(g.phi_at_infinity(), "phi_at_infinity", 0);
    expect(g.phi_over_u_at_infinity(), "phi_over_u_at_infinity", 0);
    for (const double x : points) {
        const double u = std::abs(x);
        if (!std::isnan(u)) expect(g.weight(u), "weight", u);  // on [0, +inf]
        if (std::isfinite(u)) {
            expect(g.f(u), "f", u);
            expect(g.f_prime(u), "f_prime", u);
            expect(g.f_second(u), "f_second", u);
            expect(g.phi(u), "phi", u);
        }
        if constexpr (G::has_conjugate) {
            if (g.conjugate_domain().contains(x)) expect(g.conjugate(x), "conjugate", x);
        }
    }
}

// ---------------------------------------------------------------- the target

template <class S>
void run(FuzzedDataProvider& in, Api api)
{
    const int generator = byte(in, 19);
    const bool dual = byte(in, 2) == 1;
    const double parameter = param(in);
    const bool t_power_overflow = generator == 13 && !std::isfinite(parameter * (parameter - 1.0));

    if (api == Api::generator_members) {
        std::vector<double> points(std::size_t(byte(in, 8)));
        for (double& x : points) x = param(in);
        try {
            with_generator(generator, dual, parameter, [&](const auto& g) { check_members(g, points, parameter, t_power_overflow); });
        } catch (const std::invalid_argument& e) {
            judge<S>(e.what(), Context<S>{api, "", nullptr, nullptr, nullptr, 0});
        }
        return;
    }

    const Index rows = byte(in, 65), cols = byte(in, 65);
    const int reshape = byte(in, 16);
    const bool binary = is_binary(api);
    const bool top_k_teacher = api == Api::top_k_kl;  // p: the teacher's values (rows x k), q: the student
    const Index p_cols = top_k_teacher ? Index(byte(in, int(cols) + 2)) : cols;
    Stored<S> p, q;
    std::vector<double> p_logical;
    decode_input(in, p, rows, p_cols, nullptr, &p_logical, api == Api::mutual_information);
    if (binary)
        decode_input(in, q, rows + (reshape == 1), cols + (reshape == 2), top_k_teacher ? nullptr : &p_logical, nullptr, false);
    TopKIndices indices;
    bool tail = true;
    if (top_k_teacher) {
        decode_indices(in, indices, rows, p_cols, q.cols);
        tail = byte(in, 2) == 0;
    }

    // Mask: 0-3 none, 4-5 contiguous, 6 strided, 7 one entry too many.
    const int mask_kind = byte(in, 8);
    const Index mask_size = mask_kind == 7 ? rows + 1 : rows;
    std::unique_ptr<bool[]> mask(new bool[std::size_t(mask_size + 1)]);
    std::vector<bool> mask_strided_storage;
    Eigen::Array<bool, Eigen::Dynamic, 1> mask_contiguous(mask_size), mask_strided(2 * mask_size + 1);
    for (Index r = 0; r < mask_size; r += 8) {
        const int bits = byte(in, 256);
        for (Index k = r; k < std::min<Index>(r + 8, mask_size); ++k) mask[std::size_t(k)] = (bits >> (k - r)) & 1;
    }
    for (Index r = 0; r < mask_size; ++r) {
        mask_contiguous[r] = mask[std::size_t(r)];
        mask_strided[2 * r] = mask[std::size_t(r)];
        mask_strided[2 * r + 1] = !mask[std::size_t(r)];
    }
    const bool masked = mask_kind >= 4;

    Options options;
    options.reduction = Reduction(byte(in, 4));
    const int validation_byte = byte(in, 256);  // bit 0: Validation::none, bit 1: call the f_rows function
    const Validation validation = validation_byte % 2 == 1 ? Validation::none : Validation::full;
    const bool rows_variant = (validation_byte / 2) % 2 == 1 && api != Api::mutual_information &&
                              api != Api::density_ratio_weights && api != Api::top_k_kl;
    const double tolerance_choice = param(in);
    options.tolerance = std::abs(tolerance_choice) < 1e-3 || std::isnan(tolerance_choice) || std::isinf(tolerance_choice)
                            ? tolerance_choice
                            : -1.0;  // mostly the default; small, 0 and non-finite ones too
    Request request;
    request.row_values = byte(in, 6);
    request.grad_p = byte(in, 8);
    request.grad_q = byte(in, 8);

    Options canonical_options = options;
    canonical_options.validation = Validation::full;
    Options decoded_options = options;
    decoded_options.validation = validation;
    if (masked) {
        canonical_options.mask = mask_contiguous;
        if (mask_kind == 6) {
            decoded_options.mask = Eigen::Map<const Eigen::Array<bool, Eigen::Dynamic, 1>, Eigen::Unaligned, Eigen::InnerStride<2>>(
                mask_strided.data(), mask_size);
        } else {
            decoded_options.mask = mask_contiguous;
        }
    }

    const char* function = api == Api::named_f_divergence ? kNamedNames[generator % 6] : kApiNames[int(api)];
    const std::string called = std::string(function) + (rows_variant ? "_rows" : "");  // named in messages
    const Context<S> ctx{api,       called.c_str(), &p, binary ? &q : nullptr, masked ? mask.get() : nullptr, mask_size,
                         options.reduction == Reduction::none, rows_variant, top_k_teacher ? &indices : nullptr};
    g_inputs.clear();
    for (const Stored<S>* x : {&p, &q}) {
        if (x == &q && !binary) break;
        g_inputs += x == &p ? "p =" : "q =";
        for (Index r = 0; r < x->rows && r < 8; ++r) {
            g_inputs += r == 0 ? " {" : "\n     {";
            for (Index c = 0; c < x->cols && c < 16; ++c) g_inputs += (c ? ", " : "") + show(x->at(r, c));
            g_inputs += x->cols > 16 ? ", ...}" : "}";
        }
        g_inputs += x->rows > 8 ? " ...\n" : "\n";
    }
    if (top_k_teacher) {
        g_inputs += std::string("indices (tail ") + (tail ? "on" : "off") + ") =";
        for (Index r = 0; r < indices.row_major.rows() && r < 8; ++r) {
            g_inputs += r == 0 ? " {" : "\n     {";
            for (Index i = 0; i < indices.row_major.cols() && i < 16; ++i) g_inputs += (i ? ", " : "") + std::to_string(indices.at(r, i));
            g_inputs += "}";
        }
        g_inputs += "\n";
    }
    if (masked) {
        g_inputs += "mask =";
        for (Index r = 0; r < mask_size; ++r) g_inputs += mask[std::size_t(r)] ? " 1" : " 0";
        g_inputs += "\n";
    }
    // The case in words, for failure messages.
    const auto describe_input = [&](const char* name, const Stored<S>& x) {
        const char* forms[] = {"probs", "log_probs", "logits"};
        return std::string(name) + ": " + std::to_string(x.rows) + "x" + std::to_string(x.cols) + " " +
               (x.bare ? "bare" : forms[int(x.form)]) + (x.form == Form::logits ? " T=" + show(x.temperature) : "") +
               " layout " + std::to_string(x.layout) + "; ";
    };
    const std::string label = std::string(function) + (std::is_same_v<S, float> ? " (float" : " (double") +
                              "; generator " + std::to_string(generator) + (dual ? " dual" : "") + " parameter " +
                              show(parameter) + "; " + describe_input("p", p) + (binary ? describe_input("q", q) : "") +
                              "mask " + std::to_string(mask_kind) + ", reduction " + std::to_string(int(options.reduction)) +
                              ", validation " + (validation == Validation::full ? "full" : "none") + ", tolerance " +
                              show(options.tolerance) + ")";
    double f_at_one = top_k_teacher && !tail ? -inf : 0.0;  // the lower bound of check_valid

    // The f_rows function on already built arguments: its values into `returned`.
    const auto with_rows = [&](const auto& pa, const auto& qa, const Options& o, const Outputs<S>& out,
                               std::vector<double>& returned) {
        RowValues<S> values;
        switch (api) {
        case Api::kl: values = kl_rows(pa, qa, o, out); break;
        case Api::reverse_kl: values = reverse_kl_rows(pa, qa, o, out); break;
        case Api::js: values = js_rows(pa, qa, o, out); break;
        case Api::generalized_js: values = generalized_js_rows(pa, qa, parameter, o, out); break;
        case Api::js_distance: values = js_distance_rows(pa, qa, o, out); break;
        case Api::cauchy_schwarz: values = cauchy_schwarz_rows(pa, qa, o, out); break;
        case Api::renyi: values = renyi_rows(pa, qa, parameter, o, out); break;
        case Api::entropy: values = entropy_rows(pa, o, out); break;
        case Api::cross_entropy: values = cross_entropy_rows(pa, qa, o, out); break;
        case Api::f_divergence:
            with_generator(generator, dual, parameter, [&](const auto& g) {
                f_at_one = g.f(1.0);
                values = f_divergence_rows(pa, qa, g, o, out);
            });
            break;
        case Api::named_f_divergence:
            switch (generator % 6) {
            case 0: values = squared_hellinger_rows(pa, qa, o, out); break;
            case 1: values = total_variation_rows(pa, qa, o, out); break;
            case 2: values = pearson_chi_squared_rows(pa, qa, o, out); break;
            case 3: values = neyman_chi_squared_rows(pa, qa, o, out); break;
            case 4: values = jeffreys_rows(pa, qa, o, out); break;
            default: values = triangular_rows(pa, qa, o, out); break;
            }
            break;
        default: break;
        }
        returned.assign(values.data(), values.data() + values.size());
        return S(0);
    };
    // The function on already built arguments (the canonical call: the top-k indices row-major).
    const auto with_api = [&](const auto& pa, const auto& qa, const Options& o, const Outputs<S>& out,
                              std::vector<double>& returned, bool canonical) -> S {
        if (rows_variant) return with_rows(pa, qa, o, out, returned);
        switch (api) {
        case Api::kl: return kl(pa, qa, o, out);
        case Api::reverse_kl: return reverse_kl(pa, qa, o, out);
        case Api::js: return js(pa, qa, o, out);
        case Api::generalized_js: return generalized_js(pa, qa, parameter, o, out);
        case Api::js_distance: return js_distance(pa, qa, o, out);
        case Api::cauchy_schwarz: return cauchy_schwarz(pa, qa, o, out);
        case Api::renyi: return renyi(pa, qa, parameter, o, out);
        case Api::entropy: return entropy(pa, o, out);
        case Api::cross_entropy: return cross_entropy(pa, qa, o, out);
        case Api::mutual_information: return mutual_information(pa, o, out);
        case Api::f_divergence: {
            S value = S(0);
            with_generator(generator, dual, parameter, [&](const auto& g) {
                f_at_one = g.f(1.0);
                value = f_divergence(pa, qa, g, o, out);
            });
            return value;
        }
        case Api::named_f_divergence:
            switch (generator % 6) {
            case 0: return squared_hellinger(pa, qa, o, out);
            case 1: return total_variation(pa, qa, o, out);
            case 2: return pearson_chi_squared(pa, qa, o, out);
            case 3: return neyman_chi_squared(pa, qa, o, out);
            case 4: return jeffreys(pa, qa, o, out);
            default: return triangular(pa, qa, o, out);
            }
        case Api::top_k_kl:
            if (!canonical && indices.column) return kl(top_k(indices.column_major, pa, tail), qa, o, out);
            return kl(top_k(indices.row_major, pa, tail), qa, o, out);
        default: return S(0);
        }
    };

    if (api == Api::density_ratio_weights) {
        const Excuse weight_excused = [&](const char*, Index r, Index c) {
            if (t_power_overflow && known_defect(Defect::t_power_scale_overflow)) return true;
            if (generator == 9 && !dual && parameter > 0.0 && parameter < DBL_MIN && std::exp(double(p.at(r, c))) == inf &&
                known_defect(Defect::skew_kl_weight_nan_at_infinity))
                return true;
            const double u = std::exp(double(p.at(r, c)));
            return generator == 8 && !dual && ((parameter == 1.0 && u == 0.0) || (parameter == 0.0 && u >= 1.7e308)) &&
                   known_defect(Defect::generalized_js_weight_nan_at_beta_0_or_1);
        };
        // The log ratios are p's raw values; weights are grad_p's request (none: the returning overload).
        const auto call = [&](bool canonical) {
            return run_call<S>(request, rows, cols, 0, 0, ctx, [&](const Outputs<S>& out, std::vector<double>&) -> S {
                with_generator(generator, dual, parameter, [&](const auto& g) {
                    if (out.grad_p.requested()) {
                        if (canonical || p.layout == 0) density_ratio_weights(p.logical, g, out.grad_p);
                        else if (p.layout == 1) density_ratio_weights(p.column_major, g, out.grad_p);
                        else if (p.layout == 5) density_ratio_weights(p.row_vector, g, out.grad_p);
                        else if (p.layout == 6) density_ratio_weights(p.column_vector, g, out.grad_p);
                        else density_ratio_weights(p.logical.array() * S(1), g, out.grad_p);
                    } else {
                        const auto w = density_ratio_weights(p.logical, g);
                        for (Index r = 0; r < w.rows(); ++r)
                            for (Index c = 0; c < w.cols(); ++c)
                                if (std::isnan(w(r, c)) && !weight_excused("weights", r, c))
                                    failure(label + ": NaN weight from log ratio " + show(p.at(r, c)) + " with " + g.name());
                    }
                });
                return S(0);
            }, canonical);
        };
        Request weights_only = request;
        weights_only.row_values = 0;
        weights_only.grad_q = 0;
        request = weights_only;
        const Result<S> a = call(true);
        const Result<S> b = call(false);
        if (a.threw != b.threw || (a.threw && a.message != b.message))
            failure(label + ": canonical and decoded calls throw differently: '" + a.message + "' vs '" + b.message + "'");
        if (!a.threw) {
            check_valid(a, api, 0.0, nullptr, 0, Reduction::sum, rows, label, weight_excused);
            check_same(a, b, label);
        }
        return;
    }

    const auto call = [&](bool canonical) {
        const Options& o = canonical ? canonical_options : decoded_options;
        return run_call<S>(request, rows, p_cols, q.rows, q.cols, ctx, [&](const Outputs<S>& out, std::vector<double>& returned) -> S {
            if (!canonical && p.bare && (!binary || q.bare)) return with_api(p.logical, q.logical, o, out, returned, false);
            if (canonical) return with_api(p.canonical(), binary ? q.canonical() : p.canonical(), o, out, returned, true);
            return with_api(p.decoded(), binary ? q.decoded() : p.decoded(), o, out, returned, false);
        }, canonical);
    };
    const Result<S> a = call(true);
    if (std::getenv("FUZZ_VERBOSE"))  // replaying an input: say what it decoded to
        std::fprintf(stderr, "%s\n%s-> %s\n", label.c_str(), g_inputs.c_str(), a.threw ? a.message.c_str() : show(a.value).c_str());
    // Float logits beyond +-1e15 after the temperature, in both arguments.
    const auto largest = [&](const Stored<S>& x) {
        double m = 0.0;
        for (Index r = 0; r < x.rows; ++r)
            for (Index c = 0; c < x.cols; ++c)
                if (std::isfinite(double(x.at(r, c)))) m = std::max(m, std::abs(double(x.at(r, c))) / x.temperature);
        return m;
    };
    // Logits beyond +-1e15 after the temperature in one argument, the other not logits (generic path).
    const bool generic_huge = binary && api != Api::top_k_kl && (p.form == Form::logits) != (q.form == Form::logits) &&
                              std::max(p.form == Form::logits ? largest(p) : 0.0, q.form == Form::logits ? largest(q) : 0.0) >= 1e15;
    const Excuse excused = [&](const char*, Index, Index) {
        if (generic_huge && known_defect(Defect::generic_path_huge_logits)) return true;
        if (api == Api::f_divergence && t_power_overflow && known_defect(Defect::t_power_scale_overflow)) return true;
        return false;
    };
    if (!a.threw)
        check_valid(a, api, f_at_one, masked ? mask.get() : nullptr, mask_size, options.reduction, rows, label, excused);

    // Top-k kl under Validation::none does not check the teacher's indices: out of range ones would
    // index outside the student's row (trusted inputs only, docs/errors.md), so no decoded call.
    if (top_k_teacher && validation == Validation::none && a.threw && a.kind == ErrorKind::entry) return;
    const Result<S> b = call(false);
    if (validation == Validation::full || !a.threw || a.kind == ErrorKind::other) {
        if (a.threw != b.threw || (a.threw && a.message != b.message))
            failure(label + ": canonical and decoded calls throw differently: '" + a.message + "' vs '" + b.message + "'");
        if (!a.threw) check_same(a, b, label);
    } else if (b.threw && b.kind == ErrorKind::entry) {
        failure(label + ": Validation::none threw an entry error: " + b.message);
    }
}

}  // namespace

#include "decoders.hpp"

static_assert(int(Api::count) == kFirstDecoder, "the decoders' api numbers follow the discrete APIs");

namespace {

constexpr int kApiCount = int(Decoder::end);

/// Which APIs the run covers (environment FUZZ_APIS: all, the default; discrete; decoders), so that
/// tests/fuzz/run can give each its own number of inputs. The api byte b is read as b % 33 (all),
/// b % 15 (discrete) or 15 + (b - 15) % 18 (decoders; bytes below 15 as 15 + b): the bytes of the
/// committed seeds (below 33) keep their meaning in the run that covers them.
enum class Apis { all, discrete, decoders };
Apis apis_of_run()
{
    static const Apis apis = [] {
        const char* e = std::getenv("FUZZ_APIS");
        const std::string v = e ? e : "all";
        if (v == "discrete") return Apis::discrete;
        if (v == "decoders") return Apis::decoders;
        if (v != "all") {
            std::fprintf(stderr, "FUZZ_APIS must be all, discrete or decoders, not '%s'\n", v.c_str());
            std::exit(2);
        }
        return Apis::all;
    }();
    return apis;
}

int api_of(int b)
{
    const int decoders = kApiCount - kFirstDecoder;
    switch (apis_of_run()) {
    case Apis::discrete: return b % kFirstDecoder;
    case Apis::decoders: return kFirstDecoder + (b >= kFirstDecoder ? (b - kFirstDecoder) % decoders : b);
    case Apis::all: break;
    }
    return b % kApiCount;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    FuzzedDataProvider in(data, size);
    const int api = api_of(in.ConsumeIntegralInRange<int>(0, 255));
    const bool single = in.ConsumeIntegralInRange<int>(0, 255) % 2 == 0;
    if (api < kFirstDecoder) {
        if (single) run<float>(in, Api(api));
        else run<double>(in, Api(api));
        return 0;
    }
    const Decoder decoder = Decoder(api);
    if (decoder < Decoder::token_losses) run_distillation_decoder(in, decoder, single);
    else if (decoder < Decoder::sinkhorn) run_tokens_decoder(in, decoder, single);
    else if (decoder < Decoder::kernel) run_ot_decoder(in, decoder, single);
    else if (decoder < Decoder::gaussians) run_kernel_decoder(in, decoder, single);
    else run_parametric_decoder(in, decoder, single);
    return 0;
}
