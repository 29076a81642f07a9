// Every generator of the f-divergence table on two small distributions: D_f(P||Q), D_f(Q||P) and the
// f-distill weight h(r) = r^2 f''(r) at r = 0.5, 1, 2. Checks a person can make by hand:
//   forward_kl(P||Q) = reverse_kl(Q||P); jensen_shannon is symmetric and <= 2 log 2 = 1.386;
//   total_variation = sum |p - q| / 2 = 0.3 here; gan = jensen_shannon - log 4 = jensen_shannon - 1.386;
//   h = r for forward KL, 1 for reverse KL, r / (r + 1) for Jensen-Shannon; dual(G) swaps the two columns of G;
//   amari_alpha(1) = forward_kl and amari_alpha(0) = reverse_kl (their affine terms cancel between normalized rows).
#include <divergence/discrete/f_divergence.hpp>

#include <cstdio>
#include <string>

namespace gen = divergence::generators;

template <class G>
void print_row(const G& g, const Eigen::RowVector4d& p, const Eigen::RowVector4d& q)
{
    std::printf("%-28s %12.6f %12.6f %10.4f %10.4f %10.4f\n", g.name().c_str(), divergence::f_divergence(p, q, g),
                divergence::f_divergence(q, p, g), g.weight(0.5), g.weight(1.0), g.weight(2.0));
}

int main()
{
    Eigen::RowVector4d p, q;
    p << 0.5, 0.3, 0.15, 0.05;
    q << 0.25, 0.25, 0.25, 0.25;
    std::printf("P = (0.5, 0.3, 0.15, 0.05), Q = uniform (0.25 each)\n\n");
    std::printf("%-28s %12s %12s %10s %10s %10s\n", "generator", "D_f(P||Q)", "D_f(Q||P)", "h(0.5)", "h(1)", "h(2)");
    std::printf("%s\n", std::string(28 + 3 * 11 + 2 * 13, '-').c_str());
    print_row(gen::ForwardKl{}, p, q);
    print_row(gen::ReverseKl{}, p, q);
    print_row(gen::PearsonChiSquared{}, p, q);
    print_row(gen::NeymanChiSquared{}, p, q);
    print_row(gen::SquaredHellinger{}, p, q);
    print_row(gen::Jeffreys{}, p, q);
    print_row(gen::JensenShannon{}, p, q);
    print_row(gen::Gan{}, p, q);
    print_row(gen::GeneralizedJs{0.1}, p, q);
    print_row(gen::SkewKl{0.1}, p, q);
    print_row(gen::SkewReverseKl{0.1}, p, q);
    print_row(gen::SoftenedReverseKl{}, p, q);
    print_row(gen::AmariAlpha{0.0}, p, q);
    print_row(gen::AmariAlpha{0.5}, p, q);
    print_row(gen::AmariAlpha{1.0}, p, q);
    print_row(gen::AmariAlpha{2.0}, p, q);
    print_row(gen::TPower{0.5}, p, q);
    print_row(gen::Triangular{}, p, q);
    print_row(gen::ArithmeticGeometric{}, p, q);
    print_row(gen::TotalVariation{}, p, q);
    print_row(gen::Log1pAbs{}, p, q);
    print_row(gen::ModifiedGan{}, p, q);
    print_row(gen::dual(gen::ForwardKl{}), p, q);
    print_row(gen::dual(gen::PearsonChiSquared{}), p, q);
}
