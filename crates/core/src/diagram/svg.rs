//! A [`Diagram`] laid out and drawn as a self-contained SVG, with no Graphviz.
//!
//! The layout is a grid: bands stacked top to bottom (boxes drawn around
//! runs of them), columns shared by every band, so a node's place is its
//! band and its column; inside one (band, column) cell nodes are stacked and
//! ordered by the barycentre of their neighbours (a few sweeps), which keeps
//! most edges short and uncrossed. Edges are cubic curves between the nodes'
//! sides (horizontal between columns in the resource view, vertical between
//! bands in the network view), each side's edges spread along it; a long
//! edge runs through a corridor reserved in each column it crosses; labels
//! sit at the first spot of their path (or beside it) that covers no node,
//! caption or other label. An outbound edge is written as a line of its node
//! and two opposite edges with one label as one two-headed curve (the legend
//! says so). Text is monospace so its width is known without fonts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Diagram, EdgeStyle, View};

const FONT: f64 = 11.0;
/// The advance of one monospace character at [`FONT`] (0.6 em).
const CHAR_W: f64 = 6.7;
const LINE_H: f64 = 14.0;
const PAD_X: f64 = 8.0;
const PAD_Y: f64 = 6.0;
const MARGIN: f64 = 16.0;
const TITLE_H: f64 = 44.0;
const BAND_HEADER: f64 = 26.0;
const BAND_PAD: f64 = 14.0;
const BOX_INSET: f64 = 14.0;
const BOX_HEADER: f64 = 24.0;
const EDGE_COLOURS: [&str; 6] = [
    "#2f5f98", "#a33b3b", "#a8741a", "#2e7d3a", "#6a4c9c", "#555555",
];

#[derive(Debug, Clone, Copy, Default)]
struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Rect {
    fn overlaps(&self, o: &Rect) -> bool {
        self.x < o.x + o.w && o.x < self.x + self.w && self.y < o.y + o.h && o.y < self.y + self.h
    }
    fn cx(&self) -> f64 {
        self.x + self.w / 2.0
    }
    fn cy(&self) -> f64 {
        self.y + self.h / 2.0
    }
}

fn text_w(s: &str) -> f64 {
    s.chars().count() as f64 * CHAR_W
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Where everything goes.
struct Layout {
    nodes: Vec<Rect>,
    bands: Vec<Rect>,
    boxes: Vec<Rect>,
    /// Per edge, the points it passes through between its ends (one per
    /// column it crosses: the entry and exit of that column's corridor).
    via: Vec<Vec<(f64, f64)>>,
    width: f64,
    height: f64,
}

/// Node sizes: wide enough for the longest line, tall enough to spread the
/// edges on its busiest side.
fn node_sizes(d: &Diagram, ends: &[(usize, usize)]) -> Vec<(f64, f64)> {
    // Per node: edges to lower columns, higher columns, the same column.
    let mut sides = vec![[0usize; 3]; d.nodes.len()];
    for &(a, b) in ends {
        let (ca, cb) = (d.nodes[a].column, d.nodes[b].column);
        let side = |own: usize, other: usize| match other.cmp(&own) {
            std::cmp::Ordering::Less => 0,
            std::cmp::Ordering::Greater => 1,
            std::cmp::Ordering::Equal => 2,
        };
        sides[a][side(ca, cb)] += 1;
        sides[b][side(cb, ca)] += 1;
    }
    d.nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let w = n
                .lines
                .iter()
                .map(|l| text_w(l))
                .fold(text_w(&n.title), f64::max);
            let h = (1 + n.lines.len()) as f64 * LINE_H + 2.0 * PAD_Y;
            let busiest = sides[i][0].max(sides[i][1]) as f64;
            (w + 2.0 * PAD_X, h.max(busiest * 5.0 + 8.0))
        })
        .collect()
}

/// What occupies a place in a (band, column) cell: a node, or the point
/// where a long edge crosses that column (as Graphviz's virtual nodes).
#[derive(Debug, Clone, Copy)]
enum Item {
    Node(usize),
    /// Edge, and which of its crossings.
    Via(usize, usize),
}

/// The vertical room an item takes in its cell.
const VIA_PITCH: f64 = 12.0;
/// ... and when a label may sit on it.
const LABELLED_VIA_PITCH: f64 = 26.0;
const NODE_GAP: f64 = 22.0;

/// Whether edge `e` runs horizontally (between columns): in the resource
/// view always, in the network view inside one band.
fn horizontal(d: &Diagram, a: usize, b: usize) -> bool {
    let (na, nb) = (&d.nodes[a], &d.nodes[b]);
    na.column != nb.column && (na.band == nb.band || d.view == View::Resources)
}

/// The cells: every node, and every crossing of a horizontal edge through
/// the columns between its ends (in the band on the straight way between its
/// ends' bands), ordered by the barycentre of their neighbours over a few
/// sweeps.
fn cells(
    d: &Diagram,
    band_of: &[usize],
    ends: &[(usize, usize)],
) -> BTreeMap<(usize, usize), Vec<Item>> {
    let mut cells: BTreeMap<(usize, usize), Vec<Item>> = BTreeMap::new();
    // Items are numbered: nodes first, then crossings; nbrs over that numbering.
    let mut nbrs: Vec<Vec<usize>> = vec![Vec::new(); d.nodes.len()];
    let mut items: Vec<Item> = (0..d.nodes.len()).map(Item::Node).collect();
    for (i, n) in d.nodes.iter().enumerate() {
        cells
            .entry((band_of[i], n.column))
            .or_default()
            .push(Item::Node(i));
    }
    for (k, &(a, b)) in ends.iter().enumerate() {
        let (ca, cb) = (d.nodes[a].column as f64, d.nodes[b].column as f64);
        let mut prev = a;
        if horizontal(d, a, b) {
            let steps = (ca - cb).abs() as usize;
            let dir = if cb < ca { -1.0 } else { 1.0 };
            for j in 1..steps {
                let col = (ca + dir * j as f64) as usize;
                let t = j as f64 / steps as f64;
                let band = (band_of[a] as f64 + (band_of[b] as f64 - band_of[a] as f64) * t).round()
                    as usize;
                let id = items.len();
                items.push(Item::Via(k, j - 1));
                nbrs.push(vec![prev]);
                nbrs[prev].push(id);
                cells
                    .entry((band, col))
                    .or_default()
                    .push(Item::Via(k, j - 1));
                prev = id;
            }
        }
        nbrs[prev].push(b);
        nbrs[b].push(prev);
    }
    let number = |it: &Item, via_base: &BTreeMap<(usize, usize), usize>| match it {
        Item::Node(i) => *i,
        Item::Via(k, j) => via_base[&(*k, *j)],
    };
    let via_base: BTreeMap<(usize, usize), usize> = items
        .iter()
        .enumerate()
        .filter_map(|(id, it)| match it {
            Item::Via(k, j) => Some(((*k, *j), id)),
            Item::Node(_) => None,
        })
        .collect();
    for _ in 0..8 {
        let mut pos = vec![0.0; items.len()];
        for (&(band, _), list) in &cells {
            let mid = (list.len() as f64 - 1.0) / 2.0;
            for (k, it) in list.iter().enumerate() {
                pos[number(it, &via_base)] = band as f64 * 1000.0 + (k as f64 - mid);
            }
        }
        for list in cells.values_mut() {
            let key = |id: usize| -> f64 {
                if nbrs[id].is_empty() {
                    pos[id]
                } else {
                    nbrs[id].iter().map(|&j| pos[j]).sum::<f64>() / nbrs[id].len() as f64
                }
            };
            let mut keyed: Vec<(f64, usize, Item)> = list
                .iter()
                .enumerate()
                .map(|(k, it)| (key(number(it, &via_base)), k, *it))
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            *list = keyed.into_iter().map(|x| x.2).collect();
        }
    }
    cells
}

/// Columns: their left edge and width (the widest node in them).
fn columns(d: &Diagram, sizes: &[(f64, f64)]) -> (Vec<f64>, Vec<f64>, f64) {
    let ncols = d.nodes.iter().map(|n| n.column + 1).max().unwrap_or(0);
    let mut col_w = vec![0.0f64; ncols];
    for (i, n) in d.nodes.iter().enumerate() {
        col_w[n.column] = col_w[n.column].max(sizes[i].0);
    }
    // Room between columns for the curves, and for the label of an edge
    // between neighbours of one band.
    let widest = d
        .edges
        .iter()
        .filter(
            |e| matches!((d.node(&e.from), d.node(&e.to)), (Some(a), Some(b)) if a.band == b.band),
        )
        .filter_map(|e| e.label.as_deref())
        .map(|l| text_w(l) + 32.0)
        .fold(0.0, f64::max);
    let gap: f64 = match d.view {
        View::Resources => 70.0,
        View::Network => 90.0,
    };
    let gap = gap.max(widest);
    let inset = if d.boxes.is_empty() { 0.0 } else { BOX_INSET };
    let mut col_x = Vec::with_capacity(ncols);
    let mut x = MARGIN + inset + BAND_PAD;
    for w in &col_w {
        col_x.push(x);
        x += w + gap;
    }
    let right = x - gap + BAND_PAD + inset + MARGIN;
    let title_w = MARGIN * 2.0
        + d.legend
            .lines()
            .map(text_w)
            .fold(text_w(&d.title), f64::max);
    let caption_w = d
        .bands
        .iter()
        .map(|b| &b.label)
        .chain(d.boxes.iter().map(|b| &b.label))
        .map(|t| text_w(t) + 2.0 * (MARGIN + inset + 10.0))
        .fold(0.0, f64::max);
    let title_w = title_w.max(caption_w);
    (col_x, col_w, right.max(title_w))
}

fn layout(d: &Diagram, ends: &[(usize, usize)]) -> Layout {
    let sizes = node_sizes(d, ends);
    let band_of: Vec<usize> = d
        .nodes
        .iter()
        .map(|n| d.bands.iter().position(|b| b.id == n.band).unwrap_or(0))
        .collect();
    let (col_x, col_w, width) = columns(d, &sizes);
    let cells = cells(d, &band_of, ends);
    let mut l = Layout {
        nodes: vec![Rect::default(); d.nodes.len()],
        bands: vec![Rect::default(); d.bands.len()],
        boxes: vec![Rect::default(); d.boxes.len()],
        via: ends
            .iter()
            .map(|&(a, b)| {
                let n = d.nodes[a].column.abs_diff(d.nodes[b].column);
                if horizontal(d, a, b) {
                    vec![(0.0, 0.0); 2 * n.saturating_sub(1)]
                } else {
                    vec![]
                }
            })
            .collect(),
        width,
        height: 0.0,
    };
    let mut y = MARGIN + TITLE_H + (d.legend.lines().count().max(1) - 1) as f64 * LINE_H;
    for (b, band) in d.bands.iter().enumerate() {
        if let Some(k) = d
            .boxes
            .iter()
            .position(|x| x.bands.first() == Some(&band.id))
        {
            l.boxes[k] = Rect {
                x: MARGIN,
                y,
                w: width - 2.0 * MARGIN,
                h: 0.0,
            };
            y += BOX_HEADER;
        }
        let inside = d.boxes.iter().any(|x| x.bands.contains(&band.id));
        let bx = if inside { MARGIN + BOX_INSET } else { MARGIN };
        let slot = |it: &Item| match it {
            Item::Node(i) => sizes[*i].1 + NODE_GAP,
            Item::Via(k, _) if d.edges[*k].label.is_some() => LABELLED_VIA_PITCH,
            Item::Via(..) => VIA_PITCH,
        };
        let stack = |list: &[Item]| list.iter().map(slot).sum::<f64>();
        let inner = cells
            .iter()
            .filter(|((cb, _), _)| *cb == b)
            .map(|(_, list)| stack(list))
            .fold(0.0f64, f64::max);
        let top = y + BAND_HEADER;
        for ((cb, col), list) in &cells {
            if *cb != b {
                continue;
            }
            let mut cy = top + (inner - stack(list)) / 2.0;
            for it in list {
                let s = slot(it);
                match it {
                    Item::Node(i) => {
                        let (w, h) = sizes[*i];
                        l.nodes[*i] = Rect {
                            x: col_x[*col] + (col_w[*col] - w) / 2.0,
                            y: cy,
                            w,
                            h,
                        };
                    }
                    Item::Via(k, j) => {
                        let ymid = cy + s / 2.0;
                        let (a, bb) = ends[*k];
                        let leftward = d.nodes[bb].column < d.nodes[a].column;
                        let (xin, xout) = if leftward {
                            (col_x[*col] + col_w[*col], col_x[*col])
                        } else {
                            (col_x[*col], col_x[*col] + col_w[*col])
                        };
                        l.via[*k][2 * j] = (xin, ymid);
                        l.via[*k][2 * j + 1] = (xout, ymid);
                    }
                }
                cy += s;
            }
        }
        let h = BAND_HEADER + inner - 4.0;
        l.bands[b] = Rect {
            x: bx,
            y,
            w: width - 2.0 * bx,
            h,
        };
        y += h + 10.0;
        if let Some(k) = d
            .boxes
            .iter()
            .position(|x| x.bands.last() == Some(&band.id))
        {
            y += 4.0;
            l.boxes[k].h = y - l.boxes[k].y;
            y += 10.0;
        }
    }
    l.height = y + MARGIN;
    l
}

/// Which side of a node an edge leaves or enters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Top,
    Bottom,
    Left,
    Right,
}

/// The sides an edge joins.
fn sides(d: &Diagram, l: &Layout, a: usize, b: usize) -> (Side, Side) {
    let (ra, rb) = (&l.nodes[a], &l.nodes[b]);
    if horizontal(d, a, b) {
        if ra.cx() > rb.cx() {
            (Side::Left, Side::Right)
        } else {
            (Side::Right, Side::Left)
        }
    } else if ra.cy() < rb.cy() {
        (Side::Bottom, Side::Top)
    } else {
        (Side::Top, Side::Bottom)
    }
}

fn point_on(r: &Rect, side: Side, frac: f64) -> (f64, f64) {
    match side {
        Side::Top => (r.x + r.w * frac, r.y),
        Side::Bottom => (r.x + r.w * frac, r.y + r.h),
        Side::Left => (r.x, r.y + r.h * frac),
        Side::Right => (r.x + r.w, r.y + r.h * frac),
    }
}

/// One cubic piece of an edge: start, two control points, end.
type Curve = [(f64, f64); 4];

/// A cubic from `p0` to `p3` leaving and arriving along `side`'s axis.
fn piece(p0: (f64, f64), p3: (f64, f64), side: Side) -> Curve {
    let (c1, c2) = match side {
        Side::Left | Side::Right => {
            let dx = ((p3.0 - p0.0) / 2.0).abs().max(20.0);
            let s = if p3.0 < p0.0 { -1.0 } else { 1.0 };
            ((p0.0 + s * dx, p0.1), (p3.0 - s * dx, p3.1))
        }
        Side::Top | Side::Bottom => {
            let dy = ((p3.1 - p0.1) / 2.0).abs().max(30.0);
            let s = if p3.1 < p0.1 { -1.0 } else { 1.0 };
            ((p0.0, p0.1 + s * dy), (p3.0, p3.1 - s * dy))
        }
    };
    [p0, c1, c2, p3]
}

/// An edge's end on a node's side: where the edge heads (the sort key),
/// the edge, and whether it starts there.
type Port = (f64, usize, bool);

/// Every edge's path, each side's edges spread along it in the order of
/// where they head (so they do not cross at the node); a long edge runs
/// straight through the corridor it was given in each column it crosses.
fn paths(d: &Diagram, l: &Layout, ends: &[(usize, usize)]) -> Vec<Vec<Curve>> {
    let sides: Vec<(Side, Side)> = ends.iter().map(|&(a, b)| sides(d, l, a, b)).collect();
    let mut ports: BTreeMap<(usize, Side), Vec<Port>> = BTreeMap::new();
    for (k, &(a, b)) in ends.iter().enumerate() {
        let (sa, sb) = sides[k];
        let toward = |p: (f64, f64), s: Side| match s {
            Side::Top | Side::Bottom => p.0,
            Side::Left | Side::Right => p.1,
        };
        let centre = |i: usize| (l.nodes[i].cx(), l.nodes[i].cy());
        let first = l.via[k].first().copied().unwrap_or(centre(b));
        let last = l.via[k].last().copied().unwrap_or(centre(a));
        ports
            .entry((a, sa))
            .or_default()
            .push((toward(first, sa), k, true));
        ports
            .entry((b, sb))
            .or_default()
            .push((toward(last, sb), k, false));
    }
    let mut at = vec![[(0.0, 0.0); 2]; ends.len()];
    for ((node, side), mut list) in ports {
        list.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        let m = list.len() as f64;
        for (i, (_, k, start)) in list.into_iter().enumerate() {
            let p = point_on(&l.nodes[node], side, (i as f64 + 1.0) / (m + 1.0));
            at[k][usize::from(!start)] = p;
        }
    }
    (0..ends.len())
        .map(|k| {
            let mut pts = vec![at[k][0]];
            pts.extend(l.via[k].iter().copied());
            pts.push(at[k][1]);
            pts.windows(2)
                .enumerate()
                .map(|(i, w)| {
                    if i % 2 == 1 {
                        // Across a column's corridor: straight.
                        [w[0], w[0], w[1], w[1]]
                    } else {
                        piece(w[0], w[1], sides[k].0)
                    }
                })
                .collect()
        })
        .collect()
}

fn bezier(c: &Curve, t: f64) -> (f64, f64) {
    let u = 1.0 - t;
    let f = |i: usize| {
        let p = [c[0], c[1], c[2], c[3]];
        let v = |q: (f64, f64)| if i == 0 { q.0 } else { q.1 };
        u * u * u * v(p[0])
            + 3.0 * u * u * t * v(p[1])
            + 3.0 * u * t * t * v(p[2])
            + t * t * t * v(p[3])
    };
    (f(0), f(1))
}

/// Where each edge's label goes: the first spot along its curve that covers
/// no node and no label placed before it (the middle if none is free).
fn label_spots(d: &Diagram, l: &Layout, paths: &[Vec<Curve>]) -> Vec<Option<Rect>> {
    // The bands' and boxes' own labels are not to be covered either.
    let captions: Vec<Rect> = d
        .bands
        .iter()
        .zip(&l.bands)
        .map(|(b, r)| (b.label.as_str(), r))
        .chain(
            d.boxes
                .iter()
                .zip(&l.boxes)
                .map(|(b, r)| (b.label.as_str(), r)),
        )
        .map(|(text, r)| Rect {
            x: r.x + 6.0,
            y: r.y + 4.0,
            w: text_w(text) + 6.0,
            h: LINE_H + 4.0,
        })
        .collect();
    let mut placed: Vec<Rect> = Vec::new();
    let mut out = Vec::with_capacity(d.edges.len());
    for (k, e) in d.edges.iter().enumerate() {
        let Some(text) = &e.label else {
            out.push(None);
            continue;
        };
        let (w, h) = (text_w(text) + 8.0, LINE_H + 4.0);
        let path = &paths[k];
        // Spots from the middle of the path outwards, over all its pieces.
        let n = path.len();
        let mut spots: Vec<(usize, f64)> = Vec::new();
        for t in [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8, 0.45, 0.55, 0.35, 0.65] {
            spots.push((n / 2, t));
        }
        for i in (0..n).filter(|i| *i != n / 2) {
            for t in [0.5, 0.3, 0.7] {
                spots.push((i, t));
            }
        }
        let at = |(i, t): (usize, f64), dy: f64| {
            let (x, y) = bezier(&path[i], t);
            Rect {
                x: x - w / 2.0,
                y: y - h / 2.0 + dy,
                w,
                h,
            }
        };
        let free = |r: &Rect| {
            !placed
                .iter()
                .chain(l.nodes.iter())
                .chain(captions.iter())
                .any(|o| o.overlaps(r))
        };
        // On the curve if it can be; else beside it, nearest first.
        let offsets = [
            (0.0, 0.0),
            (0.0, -h / 2.0 - 1.0),
            (0.0, h / 2.0 + 1.0),
            (-w / 2.0 - 1.0, 0.0),
            (w / 2.0 + 1.0, 0.0),
            (0.0, -h - 2.0),
            (0.0, h + 2.0),
        ];
        let spot = offsets
            .into_iter()
            .flat_map(|o| spots.iter().map(move |s| (*s, o)))
            .map(|(s, (dx, dy))| {
                let mut r = at(s, dy);
                r.x += dx;
                r
            })
            .find(free)
            .unwrap_or_else(|| at((n / 2, 0.5), 0.0));
        placed.push(spot);
        out.push(Some(spot));
    }
    out
}

/// What the SVG draws: `d` with each outbound edge written as a line of the
/// node it leaves (`→ internet: tcp/443`) instead of a curve, and each pair
/// of opposite edges with the same label and style as one curve with an
/// arrowhead at both ends (the second value: which edges are two-way).
fn drawn(d: &Diagram) -> (Diagram, Vec<bool>) {
    let mut out = d.clone();
    out.edges.clear();
    let mut two_way = Vec::new();
    for e in &d.edges {
        if e.style == EdgeStyle::Outbound {
            let to = d.node(&e.to).map_or(e.to.as_str(), |n| n.title.as_str());
            let line = match &e.label {
                Some(l) => format!("{EXIT}{to}: {l}"),
                None => format!("{EXIT}{to}"),
            };
            if let Some(n) = out.nodes.iter_mut().find(|n| n.id == e.from) {
                n.lines.push(line);
            }
            continue;
        }
        let reverse = out.edges.iter().position(|x| {
            x.from == e.to && x.to == e.from && x.label == e.label && x.style == e.style
        });
        match reverse {
            Some(k) => two_way[k] = true,
            None => {
                out.edges.push(e.clone());
                two_way.push(false);
            }
        }
    }
    (out, two_way)
}

/// How a node's line for an outbound edge starts.
const EXIT: &str = "→ ";

/// The SVG text of `d`.
pub fn render(d: &Diagram) -> String {
    let (mut d, two_way) = drawn(d);
    // What this drawing does differently from the DOT, said under the legend.
    let mut notes = Vec::new();
    if two_way.iter().any(|x| *x) {
        notes.push("two arrowheads: both ways");
    }
    if d.nodes
        .iter()
        .any(|n| n.lines.iter().any(|l| l.starts_with(EXIT)))
    {
        notes.push("a line `→ internet: PORTS` in a node: it can connect out to the internet");
    }
    if !notes.is_empty() {
        d.legend = format!(
            "{}\n{}",
            d.legend.replace(" · dotted: out to the internet", ""),
            notes.join(" · ")
        );
    }
    let d = &d;
    let index: BTreeMap<&str, usize> = d
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let ends: Vec<(usize, usize)> = d
        .edges
        .iter()
        .map(|e| (index[e.from.as_str()], index[e.to.as_str()]))
        .collect();
    let l = layout(d, &ends);
    let paths = paths(d, &l, &ends);
    let labels = label_spots(d, &l, &paths);
    let mut o = String::new();
    let w = &mut o;
    let _ = writeln!(
        w,
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{:.0}" height="{:.0}" viewBox="0 0 {:.0} {:.0}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="{FONT}">"##,
        l.width, l.height, l.width, l.height
    );
    let _ = writeln!(w, "<defs>");
    for (i, c) in EDGE_COLOURS.iter().enumerate() {
        let _ = writeln!(
            w,
            r##"<marker id="arrow{i}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>"##
        );
    }
    let _ = writeln!(w, "</defs>");
    let _ = writeln!(w, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = write!(
        w,
        r##"<text x="{MARGIN}" y="{:.1}" font-size="15" font-weight="bold">{}</text>"##,
        MARGIN + 14.0,
        esc(&d.title)
    );
    for (i, line) in d.legend.lines().enumerate() {
        let _ = write!(
            w,
            r##"<text x="{MARGIN}" y="{:.1}" fill="#555555">{}</text>"##,
            MARGIN + 32.0 + i as f64 * LINE_H,
            esc(line)
        );
    }
    let _ = writeln!(w);
    frames(w, d, &l);
    edges(w, d, &two_way, &ends, &paths);
    nodes(w, d, &l);
    edge_labels(w, d, &labels);
    o.push_str("</svg>\n");
    o
}

fn frames(w: &mut String, d: &Diagram, l: &Layout) {
    for (b, r) in d.boxes.iter().zip(&l.boxes) {
        let _ = writeln!(
            w,
            r##"<g class="box" id="{}"><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="10" fill="#fafafa" stroke="#555555" stroke-width="1.5"/><text x="{:.1}" y="{:.1}" font-weight="bold">{}</text></g>"##,
            esc(&b.id),
            r.x,
            r.y,
            r.w,
            r.h,
            r.x + 10.0,
            r.y + 16.0,
            esc(&b.label)
        );
    }
    for (b, r) in d.bands.iter().zip(&l.bands) {
        let _ = writeln!(
            w,
            r##"<g class="band" id="band-{}"><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="6" fill="{}" stroke="#bbbbbb"/><text x="{:.1}" y="{:.1}" fill="#333333" font-style="italic">{}</text></g>"##,
            esc(&b.id),
            r.x,
            r.y,
            r.w,
            r.h,
            esc(&b.fill),
            r.x + 8.0,
            r.y + 17.0,
            esc(&b.label)
        );
    }
}

fn edge_colour(d: &Diagram, from: usize) -> usize {
    let band = &d.nodes[from].band;
    d.bands.iter().position(|b| &b.id == band).unwrap_or(0) % (EDGE_COLOURS.len() - 1)
}

fn edges(
    w: &mut String,
    d: &Diagram,
    two_way: &[bool],
    ends: &[(usize, usize)],
    paths: &[Vec<Curve>],
) {
    for (k, (e, path)) in d.edges.iter().zip(paths).enumerate() {
        let colour = edge_colour(d, ends[k].0);
        let dash = match e.style {
            EdgeStyle::Solid | EdgeStyle::Outbound => "",
            EdgeStyle::Inbound => r#" stroke-dasharray="6,4""#,
        };
        let (title, start) = if two_way[k] {
            (
                format!(
                    "{} -&gt; {}, {} -&gt; {}",
                    esc(&e.from),
                    esc(&e.to),
                    esc(&e.to),
                    esc(&e.from)
                ),
                format!(r#" marker-start="url(#arrow{colour})""#),
            )
        } else {
            (
                format!("{} -&gt; {}", esc(&e.from), esc(&e.to)),
                String::new(),
            )
        };
        let _ = writeln!(
            w,
            r##"<g class="edge"><title>{title}</title><path d="{}" fill="none" stroke="{}" stroke-width="1.3" stroke-opacity="0.75"{dash}{start} marker-end="url(#arrow{colour})"/></g>"##,
            path_data(path),
            EDGE_COLOURS[colour]
        );
    }
}

/// SVG path data of a chain of cubics.
fn path_data(path: &[Curve]) -> String {
    let mut s = String::new();
    if let Some(first) = path.first() {
        let _ = write!(s, "M{:.1},{:.1}", first[0].0, first[0].1);
    }
    for c in path {
        let _ = write!(
            s,
            " C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
            c[1].0, c[1].1, c[2].0, c[2].1, c[3].0, c[3].1
        );
    }
    s
}

fn nodes(w: &mut String, d: &Diagram, l: &Layout) {
    for (n, r) in d.nodes.iter().zip(&l.nodes) {
        let _ = write!(
            w,
            r##"<g class="node" id="{}"><title>{}</title><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="5" fill="{}" stroke="#444444"/>"##,
            esc(&n.id),
            esc(&n.id),
            r.x,
            r.y,
            r.w,
            r.h,
            n.mark.map_or("#ffffff", |m| m.fill())
        );
        let _ = write!(
            w,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">{}</text>"##,
            r.cx(),
            r.y + PAD_Y + 11.0,
            esc(&n.title)
        );
        for (i, line) in n.lines.iter().enumerate() {
            // A connection out to the internet is a line of its own colour.
            let look = if line.starts_with(EXIT) {
                r##"class="exit" fill="#a33b3b" font-style="italic""##
            } else {
                r##"fill="#444444""##
            };
            let _ = write!(
                w,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" {look}>{}</text>"##,
                r.cx(),
                r.y + PAD_Y + 11.0 + (i + 1) as f64 * LINE_H,
                esc(line)
            );
        }
        let _ = writeln!(w, "</g>");
    }
}

fn edge_labels(w: &mut String, d: &Diagram, spots: &[Option<Rect>]) {
    for (e, spot) in d.edges.iter().zip(spots) {
        let (Some(text), Some(r)) = (&e.label, spot) else {
            continue;
        };
        let _ = writeln!(
            w,
            r##"<g class="edge-label"><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="3" fill="#ffffff" fill-opacity="0.92" stroke="#999999" stroke-width="0.5"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text></g>"##,
            r.x,
            r.y,
            r.w,
            r.h,
            r.cx(),
            r.y + r.h - 6.0,
            esc(text)
        );
    }
}
