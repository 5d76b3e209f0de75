package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// palette colours the servers, in the order given.
var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xff, 0x7f, 0x0e, 0xff}, color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	color.RGBA{0xd6, 0x27, 0x28, 0xff}, color.RGBA{0x94, 0x67, 0xbd, 0xff}, color.RGBA{0x8c, 0x56, 0x4b, 0xff},
}

// errPts are bar tops with the rounds' min and max as error bars.
type errPts struct {
	xy  plotter.XYs
	err plotter.YErrors
}

func (e errPts) Len() int                        { return len(e.xy) }
func (e errPts) XY(i int) (float64, float64)     { return e.xy[i].X, e.xy[i].Y }
func (e errPts) YError(i int) (float64, float64) { return e.err.YError(i) }

// barTile is one figure: a bar per server (the median) with the range of
// the rounds.
func barTile(res *results, f figure) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = f.Label
	p.Title.TextStyle.Font.Size = vg.Points(9)
	p.Y.Label.Text = f.Unit
	vals := res.Values[f.Key]
	var names []string
	top := 0.0
	for i, s := range res.Servers {
		sum := summarize(vals[s.Name])
		names = append(names, title(s))
		med := sum.med
		if math.IsNaN(med) {
			continue
		}
		top = math.Max(top, sum.max)
		bar, err := plotter.NewBarChart(plotter.Values{med}, vg.Points(28))
		if err != nil {
			return nil, err
		}
		bar.XMin = float64(i)
		bar.Color = palette[i%len(palette)]
		bar.LineStyle.Width = 0
		p.Add(bar)
		if sum.n > 1 {
			eb, err := plotter.NewYErrorBars(errPts{plotter.XYs{{X: float64(i), Y: med}}, plotter.YErrors{{Low: med - sum.min, High: sum.max - med}}})
			if err != nil {
				return nil, err
			}
			p.Add(eb)
		}
	}
	p.NominalX(names...)
	p.X.Tick.Label.Font.Size = vg.Points(7)
	p.Y.Min = 0
	if top > 0 {
		p.Y.Max = top * 1.1 // room above the highest bar and its range
	}
	return p, nil
}

// writeTiles draws plots in a grid of cols columns into file.
func writeTiles(plots []*plot.Plot, cols int, w, hRow vg.Length, file string) error {
	rows := (len(plots) + cols - 1) / cols
	grid := make([][]*plot.Plot, rows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, cols)
		for j := range grid[i] {
			if k := i*cols + j; k < len(plots) {
				grid[i][j] = plots[k]
			}
		}
	}
	img := vgimg.New(w, hRow*vg.Length(rows))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(grid, tiles, dc)
	for i := range grid {
		for j := range grid[i] {
			if grid[i][j] != nil {
				grid[i][j].Draw(canvases[i][j])
			}
		}
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// lossTile draws goodput against loss, one line per server, log scale.
func lossTile(res *results, c config, dir, what string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = what
	p.X.Label.Text = "loss, % of segments each way"
	p.Y.Label.Text = "goodput, Mbit/s (log)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	// The legend goes bottom left, under the lines, with room made for it.
	p.Legend.Left = true
	var ticks []plot.Tick
	for _, l := range c.losses {
		ticks = append(ticks, plot.Tick{Value: l, Label: fmt.Sprintf("%g", l)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	lo := math.Inf(1)
	for i, s := range res.Servers {
		var xy plotter.XYs
		for _, l := range c.losses {
			sum := summarize(res.Values[lossKey(dir, l)][s.Name])
			if sum.n > 0 && sum.med > 0 {
				xy = append(xy, plotter.XY{X: l, Y: sum.med})
				lo = math.Min(lo, sum.med)
			}
		}
		if len(xy) == 0 {
			continue
		}
		line, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, err
		}
		line.Color, pts.Color = palette[i%len(palette)], palette[i%len(palette)]
		line.Width = vg.Points(1.5)
		p.Add(line, pts)
		p.Legend.Add(title(s), line, pts)
	}
	if !math.IsInf(lo, 1) {
		p.Y.Min = lo / math.Pow(10, 0.25*float64(len(res.Servers)))
	}
	return p, nil
}

// writePlots writes the plots of the run's scenarios (plotFile) into dir
// and returns their paths.
func writePlots(res *results, c config, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var out []string
	if has(res.Scenario, "main") {
		var tiles []*plot.Plot
		for _, f := range mainFigures(c) {
			if res.Values[f.Key] == nil {
				continue
			}
			t, err := barTile(res, f)
			if err != nil {
				return nil, err
			}
			tiles = append(tiles, t)
		}
		file := filepath.Join(dir, plotFile("main", c))
		if err := writeTiles(tiles, 4, 32*vg.Centimeter, 7*vg.Centimeter, file); err != nil {
			return nil, fmt.Errorf("plot: %w", err)
		}
		out = append(out, file)
	}
	if has(res.Scenario, "loss") {
		var tiles []*plot.Plot
		for _, d := range [][2]string{{"dl", "download (server sends)"}, {"ul", "upload (server receives)"}} {
			t, err := lossTile(res, c, d[0], d[1])
			if err != nil {
				return nil, err
			}
			tiles = append(tiles, t)
		}
		file := filepath.Join(dir, plotFile("loss", c))
		if err := writeTiles(tiles, 2, 24*vg.Centimeter, 9*vg.Centimeter, file); err != nil {
			return nil, fmt.Errorf("plot: %w", err)
		}
		out = append(out, file)
	}
	return out, nil
}
