"""The first prototype of the translation filter (a window fixed at the first box's size, a plain
parabola for the sub-cell peak). Its post-hoc sweeps (prototype_posthoc.py) chose the
settings core/translation_filter.py keeps; the module's own figures are refiner_posthoc.py's."""
import cv2, numpy as np

class TransFilter:
    def __init__(self, box, padding=1.5, template=96, cell=4, lr=0.025, lam=1e-2, sigma_factor=1/16, bins=9):
        w, h = float(box[2]), float(box[3])
        self.win = np.array([w * (1 + padding), h * (1 + padding)])
        s = np.sqrt(template * template / np.prod(self.win))
        self.tsize = tuple(max(4 * cell, int(round(v * s / cell)) * cell) for v in self.win)
        self.scale = np.array(self.tsize, float) / self.win  # template px per frame px
        self.cell, self.lr, self.lam, self.bins = cell, lr, lam, bins
        gw, gh = self.tsize[0] // cell, self.tsize[1] // cell
        self.grid = (gh, gw)
        sig = np.sqrt(w * h) * sigma_factor * s / cell
        ys = np.arange(gh) - gh // 2; xs = np.arange(gw) - gw // 2
        y = np.exp(-0.5 * (ys[:, None] ** 2 + xs[None] ** 2) / sig ** 2)
        self.yf = np.fft.fft2(np.fft.ifftshift(y))
        self.window = np.outer(np.hanning(gh), np.hanning(gw))[..., None]
        self.num = self.den = None

    def features(self, gray, centre):
        patch = cv2.getRectSubPix(gray, (int(round(self.win[0])), int(round(self.win[1]))), (float(centre[0]), float(centre[1])))
        patch = cv2.resize(patch, self.tsize, interpolation=cv2.INTER_LINEAR).astype(np.float32)
        gx = cv2.Sobel(patch, cv2.CV_32F, 1, 0, ksize=1); gy = cv2.Sobel(patch, cv2.CV_32F, 0, 1, ksize=1)
        mag, ang = cv2.cartToPolar(gx, gy, angleInDegrees=True)
        a = (ang % 180.0) / (180.0 / self.bins)
        lo = np.floor(a).astype(int) % self.bins; frac = a - np.floor(a); hi = (lo + 1) % self.bins
        ch = np.zeros(patch.shape + (self.bins,), np.float32)
        r, c = np.indices(patch.shape)
        ch[r, c, lo] += mag * (1 - frac); ch[r, c, hi] += mag * frac
        gw, gh = self.grid[1], self.grid[0]
        hog = cv2.resize(ch, (gw, gh), interpolation=cv2.INTER_AREA)
        hog = np.sqrt(hog / (hog.sum(-1, keepdims=True) + 1e-3 + hog.sum(-1).mean()))
        g = cv2.resize(patch, (gw, gh), interpolation=cv2.INTER_AREA)[..., None] / 255.0 - 0.5
        f = np.concatenate([hog, g], -1) * self.window
        return np.fft.fft2(f, axes=(0, 1))

    def learn(self, gray, centre):
        xf = self.features(gray, centre)
        num = np.conj(self.yf)[..., None] * xf
        den = (np.conj(xf) * xf).real.sum(-1)
        if self.num is None: self.num, self.den = num, den
        else:
            self.num = (1 - self.lr) * self.num + self.lr * num
            self.den = (1 - self.lr) * self.den + self.lr * den

    def estimate(self, gray, centre):
        """Displacement (dx, dy) in frame pixels of the target from ``centre``, and the peak."""
        zf = self.features(gray, centre)
        resp = np.fft.ifft2((np.conj(self.num) * zf).sum(-1) / (self.den + self.lam)).real
        gh, gw = self.grid
        iy, ix = np.unravel_index(np.argmax(resp), resp.shape)
        peak = resp[iy, ix]
        # sub-cell: parabola through neighbours
        def sub(m1, m0, p1):
            d = m1 - 2 * m0 + p1
            return 0.0 if d >= 0 else 0.5 * (m1 - p1) / d
        dy = sub(resp[(iy - 1) % gh, ix], peak, resp[(iy + 1) % gh, ix])
        dx = sub(resp[iy, (ix - 1) % gw], peak, resp[iy, (ix + 1) % gw])
        sy = (iy + dy + gh // 2) % gh - gh // 2; sx = (ix + dx + gw // 2) % gw - gw // 2
        return np.array([sx, sy]) * self.cell / self.scale, peak
