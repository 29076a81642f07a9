// Shared machinery of the decoders in tests/fuzz/decoders_*.hpp (included by public_api_fuzz.cpp
// after its own helpers: param(), byte(), kPalette, failure(), parse(), show(), with_generator()).
//
// A decoder reads its choices from the bytes, makes one or a few calls and checks, for each:
//   - an exception is a std::invalid_argument whose message has the documented format
//     "divergence::<function>: argument '<name>'[, row r][, column c]: <problem>" (docs/errors.md),
//     names one of the functions the decoder allows (the public function or one it documents it
//     delegates to) and a row/column inside the argument when it names one;
//   - a call that returns, on inputs accepted with Validation::full, gives no NaN anywhere
//     (values, gradients, potentials, plans), except where a header documents a NaN.
// FUZZ_VERBOSE=1 prints each decoded call (Call::describe) and its outcome.

#ifndef DIVERGENCE_FUZZ_COMMON_HPP
#define DIVERGENCE_FUZZ_COMMON_HPP

#include <initializer_list>
#include <sstream>

namespace fuzz {

using divergence::Index;
using divergence::RowMatrix;

/// Reads the choices of a decoder (see public_api_fuzz.cpp: bytes are read from the end).
struct Reader {
    FuzzedDataProvider& in;

    int pick(int n) { return n <= 1 ? 0 : byte(in, n); }
    bool flag() { return pick(2) == 1; }
    /// A palette value or 8 arbitrary bytes (param() of the harness).
    double any() { return param(in); }
    /// A value from a short list of the caller's (the last byte picks it) or, one time in four, any().
    double one_of(std::initializer_list<double> values)
    {
        const int k = pick(int(values.size()) * 4 / 3 + 1);
        if (k < int(values.size())) return *(values.begin() + k);
        return any();
    }
    /// One entry: scale * u, u in [-1, 1) from 16 bits, or (at `rate` / 256) a palette special.
    double entry(double scale, int rate)
    {
        const unsigned u = in.ConsumeIntegral<uint16_t>();
        if (int(u & 0xff) < rate) return kPalette[(u >> 8) % kPaletteSize];
        return scale * ((double(u) - 32768.0) / 32768.0);
    }
    /// A scale for entries (from kScales) and a special rate: rate 0 half of the time.
    std::pair<double, int> spread()
    {
        const double scale = kScales[pick(int(sizeof kScales / sizeof kScales[0]))];
        const int r = pick(256);
        return {scale, r < 128 ? 0 : (r - 128) / 2};
    }
    template <class S>
    RowMatrix<S> matrix(Index rows, Index cols, double scale, int rate)
    {
        RowMatrix<S> m(rows, cols);
        for (Index r = 0; r < rows; ++r)
            for (Index c = 0; c < cols; ++c) m(r, c) = S(entry(scale, rate));
        return m;
    }
    template <class S>
    RowMatrix<S> matrix(Index rows, Index cols)
    {
        const auto s = spread();
        return matrix<S>(rows, cols, s.first, s.second);
    }
    template <class S>
    Eigen::Matrix<S, Eigen::Dynamic, 1> vector(Index size, double scale, int rate)
    {
        Eigen::Matrix<S, Eigen::Dynamic, 1> v(size);
        for (Index i = 0; i < size; ++i) v(i) = S(entry(scale, rate));
        return v;
    }
    /// Non-negative weights (|entry|), or with `raw` the entries as they are.
    template <class S>
    Eigen::Matrix<S, Eigen::Dynamic, 1> weights(Index size)
    {
        const bool raw = pick(8) == 0;
        const auto s = spread();
        Eigen::Matrix<S, Eigen::Dynamic, 1> v = vector<S>(size, s.first == 0.0 ? 1.0 : s.first, s.second);
        if (!raw) v = v.cwiseAbs();
        return v;
    }
};

/// Whether every entry is finite.
template <class D>
bool all_finite(const Eigen::DenseBase<D>& m)
{
    for (Index r = 0; r < m.rows(); ++r)
        for (Index c = 0; c < m.cols(); ++c)
            if (!std::isfinite(double(m(r, c)))) return false;
    return true;
}

/// One decoded call: what it is (printed with a failure and with FUZZ_VERBOSE), the functions its
/// exceptions may name, and the checks of its results.
class Call {
public:
    Call(std::string what, std::initializer_list<const char*> functions) : what_(std::move(what)), functions_(functions.begin(), functions.end()) {}

    /// One more function its exceptions may name.
    void allow(std::string function) { functions_.push_back(std::move(function)); }

    /// Adds to the description (the decoded arguments).
    template <class T>
    Call& operator<<(const T& x)
    {
        std::ostringstream s;
        s.precision(17);
        s << x;
        what_ += s.str();
        return *this;
    }
    template <class D>
    Call& show_matrix(const char* name, const Eigen::DenseBase<D>& m)
    {
        std::ostringstream s;
        s.precision(17);
        s << "\n  " << name << " (" << m.rows() << " x " << m.cols() << ") =";
        for (Index r = 0; r < m.rows() && r < 8; ++r) {
            s << (r ? "\n     {" : " {");
            for (Index c = 0; c < m.cols() && c < 12; ++c) s << (c ? ", " : "") << double(m(r, c));
            s << (m.cols() > 12 ? ", ...}" : "}");
        }
        what_ += s.str();
        return *this;
    }

    /// Runs f(); true if it returned, false if it threw a documented exception (judged here).
    template <class F>
    bool run(F&& f)
    {
        if (std::getenv("FUZZ_VERBOSE")) std::fprintf(stderr, "%s\n", what_.c_str());
        try {
            f();
        } catch (const std::invalid_argument& e) {
            judge(e.what());
            if (std::getenv("FUZZ_VERBOSE")) std::fprintf(stderr, "-> %s\n", e.what());
            return false;
        } catch (const std::exception& e) {
            fail(std::string("exception other than std::invalid_argument: ") + e.what());
        }
        if (std::getenv("FUZZ_VERBOSE")) std::fprintf(stderr, "-> returned\n");
        return true;
    }

    [[noreturn]] void fail(const std::string& problem) const { failure(what_ + "\n" + problem); }

    /// f() must throw a documented std::invalid_argument (judged as in run()).
    template <class F>
    void refused(const char* what, F&& f) const
    {
        try {
            f();
        } catch (const std::invalid_argument& e) {
            judge(e.what());
            return;
        } catch (const std::exception& e) {
            fail(std::string(what) + ": exception other than std::invalid_argument: " + e.what());
        }
        fail(std::string(what) + " returned where it must throw");
    }

    /// A result that must not be NaN.
    void value(const char* name, double v) const
    {
        if (std::isnan(v)) fail(std::string("NaN ") + name + " from accepted input");
    }
    template <class D>
    void values(const char* name, const Eigen::DenseBase<D>& m) const
    {
        for (Index r = 0; r < m.rows(); ++r)
            for (Index c = 0; c < m.cols(); ++c)
                if (std::isnan(double(m(r, c))))
                    fail(std::string("NaN ") + name + "(" + std::to_string(r) + ", " + std::to_string(c) + ") from accepted input");
    }
    void values(const char* name, const std::vector<double>& v) const
    {
        for (std::size_t i = 0; i < v.size(); ++i)
            if (std::isnan(v[i])) fail(std::string("NaN ") + name + "[" + std::to_string(i) + "] from accepted input");
    }
    /// A result that must be >= bound (NaN fails too).
    void at_least(const char* name, double v, double bound) const
    {
        if (!(v >= bound)) fail(std::string(name) + " = " + show(v) + " is below " + show(bound));
    }

private:
    void judge(const std::string& text) const
    {
        Message m;
        if (!parse(text, m)) fail("exception message not in the documented format: " + text);
        bool known = false;
        for (const std::string& f : functions_) known = known || m.function == f;
        if (starts(m.function, "generators::")) known = true;  // a generator's parameter (judged by the harness' table)
        if (!known) fail("exception names a function this call does not document: " + text);
        if (m.argument.empty() || m.argument.find_first_of(" \t\n") != std::string::npos) fail("exception names no argument: " + text);
        if (m.problem.empty()) fail("exception states no problem: " + text);
    }

    std::string what_;
    std::vector<std::string> functions_;
};

/// Which validation a decoder asked for: NaN checks apply to full validation only (Validation::none
/// promises unspecified numbers for bad entries).
inline divergence::Validation validation_of(Reader& r) { return r.pick(4) == 0 ? divergence::Validation::none : divergence::Validation::full; }

/// Row options shared by the row losses and kl_diagonal: reduction (byte % 4), validation (byte % 4: 0 none), a mask
/// (byte % 4: 1 keep bits, 2 one entry too many), weights (byte % 4: 1 decoded, 2 one too many).
struct RowOptions {
    divergence::Options options;
    Eigen::Array<bool, Eigen::Dynamic, 1> mask;
    Eigen::VectorXd weights;

    void decode(Reader& r, Index rows, Call& call)
    {
        options.reduction = divergence::Reduction(r.pick(4));
        options.validation = validation_of(r);
        const int mask_kind = r.pick(4);
        if (mask_kind == 1 || mask_kind == 2) {
            mask.resize(rows + (mask_kind == 2));
            const int bits = r.pick(256);
            for (Index i = 0; i < mask.size(); ++i) mask(i) = ((bits >> (i % 8)) & 1) != 0;
            options.mask = mask;
        }
        const int weight_kind = r.pick(4);
        if (weight_kind == 1 || weight_kind == 2) {
            weights = r.weights<double>(rows + (weight_kind == 2));
            options.weights = weights;
        }
        if (r.pick(8) == 0) options.tolerance = r.any();
        call << " reduction " << int(options.reduction) << (options.validation == divergence::Validation::none ? " validation none" : "")
             << " mask " << mask_kind << " weights " << weight_kind << " tolerance " << options.tolerance;
        if (mask.size()) call.show_matrix("mask", mask.template cast<int>().transpose());
        if (weights.size()) call.show_matrix("weights", weights.transpose());
    }
    bool full() const { return options.validation == divergence::Validation::full; }
};

}  // namespace fuzz

#endif
